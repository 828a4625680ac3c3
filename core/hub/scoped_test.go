package hub_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/hub"
	"github.com/restic-manager/restic-manager/core/secrets"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// The one-job key flow of a cross-host restore over the real API, store
// and hub, with protocol-level agents: the key_add carries a fresh
// password, the restore waits for the key and then gets that password in
// place of the repository's, its events are scrubbed of it, and the key's
// removal waits for a key holder to come back. The flow with real agents
// and restic is tested end to end (e2e_xrestore_test.go).

const scopedRepoPassword = "the repository's own password"

type scopedJob struct {
	ID        string `json:"id"`
	HostID    string `json:"host_id"`
	Status    string `json:"status"`
	Error     string `json:"error"`
	ScopedKey *struct {
		State        string `json:"state"`
		Note         string `json:"note"`
		SourceHostID string `json:"source_host_id"`
		AddJobID     string `json:"add_job_id"`
		RemoveJobID  string `json:"remove_job_id"`
		KeyID        string `json:"key_id"`
	} `json:"scoped_key"`
}

type scopedRig struct {
	s            *testServer
	srcID, dstID string
	srcCred      string
	dstCred      string
	repoID       string
	snap         string
}

func newScopedRig(t *testing.T) *scopedRig {
	t.Helper()
	kr, err := (*secrets.Keyring)(nil).WithNewKey()
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, func(o *hub.Options) { o.Sealer = kr })
	r := &scopedRig{s: s, snap: strings.Repeat("ab", 32)}
	r.srcID, r.srcCred = s.enroll(t, "src")
	r.dstID, r.dstCred = s.enroll(t, "dst")
	r.repoID = s.addRepo(t, "xr", scopedRepoPassword, nil)
	snaps := []store.Snapshot{{RepositoryID: r.repoID, ID: r.snap, ShortID: r.snap[:8], HostID: r.srcID, Time: time.Now(), Paths: []string{"/srv"}}}
	if err := s.db.UpsertSnapshots(t.Context(), "", snaps, time.Now()); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *scopedRig) restore(t *testing.T, want int) scopedJob {
	t.Helper()
	var j scopedJob
	var out any
	if want == http.StatusAccepted {
		out = &j
	}
	r.s.call(t, "POST", "/api/v1/hosts/src/restore", r.s.admin, map[string]any{
		"snapshot": r.snap, "includes": []string{"/srv/a.txt"}, "target": "/restore", "to_host": "dst",
	}, want, out)
	return j
}

func (r *scopedRig) job(t *testing.T, id string) scopedJob {
	t.Helper()
	var j scopedJob
	r.s.call(t, "GET", "/api/v1/jobs/"+id, r.s.admin, nil, http.StatusOK, &j)
	return j
}

func TestScopedRestoreRunsWithAOneJobKey(t *testing.T) {
	t.Parallel()
	r := newScopedRig(t)
	b := r.s.connect(t, r.dstCred)

	// Nobody holds the password: refused, nothing made.
	r.restore(t, http.StatusConflict)
	if jobs, _ := r.s.db.ListJobs(t.Context(), store.JobFilter{}); len(jobs) != 0 {
		t.Fatalf("a refused cross-host restore left %d jobs", len(jobs))
	}

	a := r.s.connect(t, r.srcCred)
	j := r.restore(t, http.StatusAccepted)
	if j.HostID != r.dstID || j.Status != "queued" || j.ScopedKey == nil || j.ScopedKey.State != "adding" ||
		j.ScopedKey.SourceHostID != r.srcID || j.ScopedKey.Note != "waiting for a one-job key" {
		t.Fatalf("cross-host restore job %+v", j)
	}
	add := a.waitDispatch().msg
	pw := add.NewPassword.Reveal()
	if add.Kind != "key_add" || add.JobID != j.ScopedKey.AddJobID || len(pw) < 40 || pw == scopedRepoPassword {
		t.Fatalf("key_add dispatch %s with a %d-char password; want the key_add with a fresh one", add.Kind, len(pw))
	}
	if !strings.Contains(string(add.Params), `"host":"dst"`) {
		t.Errorf("key_add params %s: want the target host as the key's host", add.Params)
	}
	select {
	case d := <-b.dispatches:
		t.Fatalf("the restore was sent before its key existed: %s", d.msg.Kind)
	case <-time.After(300 * time.Millisecond):
	}
	keyID := strings.Repeat("c3", 32)
	a.finish(add.JobID, 1, wire.StatusSucceeded, 0, map[string]string{"key_id": keyID})

	rd := b.waitDispatch().msg
	if rd.JobID != j.ID || rd.Repository.Password.Reveal() != pw {
		t.Fatalf("restore dispatch %s: want job %s with the one-job password in place of the repository's", rd.JobID, j.ID)
	}
	if rd.Repository.URL == "" {
		t.Error("the restore was sent without the repository's URL")
	}
	// The key holder goes away before the restore ends: the removal waits.
	_ = a.c.Close("going away")
	eventually(t, "src offline", func() bool { return r.s.hostStatus(t, r.srcID) == "offline" })
	b.logEvent(j.ID, 1, "restic said "+pw)
	b.finish(j.ID, 2, wire.StatusSucceeded, 0, nil)
	eventually(t, "the key pending removal", func() bool {
		k := r.job(t, j.ID).ScopedKey
		return k != nil && k.State == "removing" && k.RemoveJobID == "" && k.KeyID == keyID
	})
	for _, l := range r.s.jobLogs(t, j.ID) {
		if strings.Contains(l.Line, pw) {
			t.Fatalf("the restore's log holds the one-job password: %q", l.Line)
		}
	}

	// The key holder is back: the key is removed, its password deleted.
	a2 := r.s.connect(t, r.srcCred)
	rm := a2.waitDispatch().msg
	if rm.Kind != "key_remove" || !strings.Contains(string(rm.Params), keyID) || !rm.NewPassword.IsZero() {
		t.Fatalf("removal dispatch %s %s", rm.Kind, rm.Params)
	}
	a2.finish(rm.JobID, 1, wire.StatusSucceeded, 0, map[string]any{"key_id": keyID})
	eventually(t, "the key removed", func() bool { return r.job(t, j.ID).ScopedKey.State == "removed" })
	k, err := r.s.db.ScopedKeyForJob(t.Context(), j.ID)
	if err != nil || k.CredentialID != "" {
		t.Fatalf("scoped key %+v %v: want its password deleted", k, err)
	}
	if strings.Contains(r.s.log.String(), pw) {
		t.Error("the server log holds the one-job password")
	}
	entries, err := r.s.db.ListAudit(t.Context(), store.AuditFilter{Action: "repository.scoped_key.", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.Action+"/"+e.Outcome] = true
	}
	if !seen["repository.scoped_key.add/success"] || !seen["repository.scoped_key.remove/success"] {
		t.Fatalf("audit actions %v: want the key's add and removal", seen)
	}
}

func TestScopedRestoreFailsWhenTheKeyCannotBeMade(t *testing.T) {
	t.Parallel()
	r := newScopedRig(t)
	a := r.s.connect(t, r.srcCred)
	b := r.s.connect(t, r.dstCred)
	j := r.restore(t, http.StatusAccepted)
	add := a.waitDispatch().msg
	a.finish(add.JobID, 1, wire.StatusFailed, 1, nil)
	eventually(t, "the restore failed", func() bool {
		got := r.job(t, j.ID)
		return got.Status == "failed" && strings.Contains(got.Error, "one-job key") && got.ScopedKey.State == "failed"
	})
	select {
	case d := <-b.dispatches:
		t.Fatalf("the restore was sent without a key: %s", d.msg.Kind)
	default:
	}
	k, err := r.s.db.ScopedKeyForJob(t.Context(), j.ID)
	if err != nil || k.CredentialID != "" {
		t.Fatalf("scoped key %+v %v: want its password deleted", k, err)
	}
	if _, err := r.s.db.GetCredential(t.Context(), "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
}
