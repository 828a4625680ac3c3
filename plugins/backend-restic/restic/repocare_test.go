package restic

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestParseForgetOfRestic014 reads what Debian's restic 0.14.0 printed for
// `forget --dry-run --json --keep-last 1 --keep-daily 2` (testdata): its
// reasons carry snapshots without ids, "remove" may be null, and the plan
// must still name each kept snapshot's reasons.
func TestParseForgetOfRestic014(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("testdata", "forget-0.14.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	rec := parse(t, KindForget, string(raw), "", func(p *parser) { p.dryRun = true })
	groups := eventsOf[*ForgetGroup](rec)
	if len(groups) != 2 {
		t.Fatalf("groups: %s", rec.dump())
	}
	byHost := map[string]*ForgetGroup{}
	for _, g := range groups {
		byHost[g.Host] = g
		if len(g.Reasons) != len(g.Keep) {
			t.Fatalf("group %s: %d reasons for %d kept", g.Host, len(g.Reasons), len(g.Keep))
		}
		for i, r := range g.Reasons {
			if r.Snapshot.ID == "" || r.Snapshot.ID != g.Keep[i].ID || len(r.Matches) == 0 {
				t.Errorf("group %s: reason %d not paired with its snapshot: %+v", g.Host, i, r)
			}
		}
	}
	h1, h2 := byHost["h1"], byHost["h2"]
	if h1 == nil || h2 == nil || len(h2.Keep) != 1 || len(h2.Remove) != 0 || len(h1.Keep) != 1 || len(h1.Remove) != 2 {
		t.Fatalf("groups: %s", rec.dump())
	}
	if !slices.Equal(h2.Reasons[0].Matches, []string{"last snapshot", "daily snapshot"}) {
		t.Errorf("h2 reasons %v", h2.Reasons[0].Matches)
	}
	res := eventsOf[*ForgetResult](rec)
	if len(res) != 1 || !res[0].DryRun || len(res[0].Kept) != 2 || len(res[0].Removed) != 2 || res[0].Groups != 2 {
		t.Fatalf("result: %s", rec.dump())
	}
	for _, id := range res[0].Removed {
		if slices.Contains(res[0].Kept, id) {
			t.Errorf("%s both kept and removed", id)
		}
	}
}

// TestParseCopyReport reads copy's text report as restic 0.14.0 and 0.18.1
// printed it (testdata: three snapshots copied, one skipped as copied
// before) into the copy result.
func TestParseCopyReport(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"0.14.0", "0.18.1"} {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(filepath.Join("testdata", "copy-"+v+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			rec := parse(t, KindCopy, string(raw), "")
			res := eventsOf[*CopyResult](rec)
			if len(res) != 1 || len(res[0].Copied) != 3 || len(res[0].Skipped) != 1 {
				t.Fatalf("copy result: %s", rec.dump())
			}
			for _, c := range append(res[0].Copied, res[0].Skipped...) {
				if len(c.Source) != 8 || len(c.Snapshot) != 8 || c.Source == c.Snapshot {
					t.Errorf("pair %+v", c)
				}
			}
			// Every line still reaches the log.
			if n := len(eventsOf[*LogLine](rec)); n < 8 {
				t.Errorf("%d log lines: %s", n, rec.dump())
			}
		})
	}
	// A failed copy reports no result (it may have copied some).
	rec := &recorder{}
	s := &sink{emit: rec.emit, abort: func() {}}
	p := &parser{kind: KindCopy, emit: s.send, maxLine: DefaultMaxLineBytes, maxDoc: DefaultMaxDocumentBytes}
	p.readStdout(strings.NewReader("snapshot 0a0a0a0a saved\n"))
	p.finish(false)
	if len(eventsOf[*CopyResult](rec)) != 0 {
		t.Errorf("failed copy has a result: %s", rec.dump())
	}
}

func TestRepositoryCareArgs(t *testing.T) {
	t.Parallel()
	src := Repository{URL: "/srv/a", Password: "source-pw"}
	tests := map[string]struct {
		job  Job
		want string
	}{
		"copy latest": {
			CopyJob{From: src, Snapshots: []string{"latest"}, Hosts: []string{"web1"}, Paths: []string{"/srv"}},
			"copy --json --verbose --host=web1 --path=/srv -- latest",
		},
		"copy all": {
			CopyJob{From: src, Tags: []string{"nightly"}, Limits: Limits{UploadKiBs: 100}},
			"copy --json --limit-upload=100 --verbose --tag=nightly",
		},
		"check size subset": {CheckJob{ReadDataSubset: "500M"}, "check --json --read-data-subset=500M"},
		"check pct subset":  {CheckJob{ReadDataSubset: "2.5%"}, "check --json --read-data-subset=2.5%"},
		"forget within":     {ForgetJob{KeepWithin: "1y2m3d4h"}, "forget --json --keep-within=1y2m3d4h"},
		"forget no group":   {ForgetJob{KeepLast: 1, GroupBy: "tags"}, "forget --json --keep-last=1 --group-by=tags"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			args, err := tc.job.args(V(0, 14, 0))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(args, " "); got != tc.want {
				t.Errorf("args\n got %s\nwant %s", got, tc.want)
			}
			if strings.Contains(strings.Join(args, " "), "source-pw") {
				t.Errorf("a password in argv: %q", args)
			}
		})
	}
	for name, job := range map[string]Job{
		"within repeated unit": ForgetJob{KeepWithin: "1d2d"},
		"within all zero":      ForgetJob{KeepWithin: "0d0h"},
		"within negative":      ForgetJob{KeepWithin: "-1d"},
		"within no unit":       ForgetJob{KeepWithin: "7"},
		"subset zero part":     CheckJob{ReadDataSubset: "0/5"},
		"subset n above t":     CheckJob{ReadDataSubset: "6/5"},
		"subset too many":      CheckJob{ReadDataSubset: "1/300"},
		"subset zero pct":      CheckJob{ReadDataSubset: "0%"},
		"subset above 100":     CheckJob{ReadDataSubset: "100.5%"},
		"subset zero size":     CheckJob{ReadDataSubset: "0M"},
		"subset bad unit":      CheckJob{ReadDataSubset: "5Q"},
		"subset negative":      CheckJob{ReadDataSubset: "-5M"},
		"copy flag snapshot":   CopyJob{From: src, Snapshots: []string{"--from-repo=/x"}},
		"copy empty tag":       CopyJob{From: src, Tags: []string{""}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := job.args(V(0, 18, 1)); !errors.Is(err, ErrInvalidJob) {
				t.Fatalf("args = %v, want ErrInvalidJob", err)
			}
		})
	}
}

func TestSourceRepoEnv(t *testing.T) {
	t.Parallel()
	dst := Repository{
		URL: "s3:s3.example.com/offsite", Password: "dst-pw",
		Env: map[string]string{"AWS_ACCESS_KEY_ID": "AKIA1", "RESTIC_CACHE_DIR": "/var/cache/a"},
	}
	src := Repository{
		URL: "sftp:nas:/srv/restic", Password: "src-pw",
		Env: map[string]string{"AWS_ACCESS_KEY_ID": "AKIA1", "RESTIC_CACHE_DIR": "/var/cache/b", "SFTP_KEY_FILE": "/k", "RESTIC_KEY_HINT": "abc"},
	}
	base := childEnv([]string{"PATH=/bin"}, nil, dst, true, nil)
	got, err := withSourceRepo(base, dst, src)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"RESTIC_REPOSITORY=s3:s3.example.com/offsite", "RESTIC_PASSWORD=dst-pw",
		"RESTIC_FROM_REPOSITORY=sftp:nas:/srv/restic", "RESTIC_FROM_PASSWORD=src-pw", "RESTIC_FROM_KEY_HINT=abc",
		"AWS_ACCESS_KEY_ID=AKIA1", "RESTIC_CACHE_DIR=/var/cache/a", "SFTP_KEY_FILE=/k",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("missing %s in %q", want, got)
		}
	}
	if slices.Contains(got, "RESTIC_KEY_HINT=abc") || slices.Contains(got, "RESTIC_CACHE_DIR=/var/cache/b") {
		t.Errorf("the source's restic settings leaked under their own names: %q", got)
	}

	// A password command for the source replaces its password.
	src2 := Repository{URL: "/srv/a", PasswordCommand: "cat /etc/pw"}
	got, err = withSourceRepo(base, dst, src2)
	if err != nil || !slices.Contains(got, "RESTIC_FROM_PASSWORD_COMMAND=cat /etc/pw") {
		t.Errorf("password command: %q, %v", got, err)
	}
	for _, kv := range got {
		if strings.HasPrefix(kv, "RESTIC_FROM_PASSWORD=") {
			t.Errorf("unexpected %s", kv)
		}
	}

	for name, tc := range map[string]struct{ dst, src Repository }{
		"same repository":       {dst, Repository{URL: dst.URL, Password: "x"}},
		"conflicting key":       {dst, Repository{URL: "/b", Password: "x", Env: map[string]string{"AWS_ACCESS_KEY_ID": "AKIA2"}}},
		"source sets FROM":      {dst, Repository{URL: "/b", Password: "x", Env: map[string]string{"RESTIC_FROM_PASSWORD": "y"}}},
		"destination sets FROM": {Repository{URL: "/a", Password: "x", Env: map[string]string{"RESTIC_FROM_REPOSITORY": "/c"}}, Repository{URL: "/b", Password: "x"}},
		"legacy repo2":          {dst, Repository{URL: "/b", Password: "x", Env: map[string]string{"RESTIC_PASSWORD2": "y"}}},
	} {
		if _, err := withSourceRepo(base, tc.dst, tc.src); !errors.Is(err, ErrInvalidRepository) {
			t.Errorf("%s: err %v, want ErrInvalidRepository", name, err)
		}
	}
}

// TestCopyRefusesBeforeStarting: a copy without a usable source fails
// before restic runs.
func TestCopyRefusesBeforeStarting(t *testing.T) {
	t.Parallel()
	r := newRunner(t)
	dst := Repository{URL: filepath.Join(t.TempDir(), "dst"), Password: "pw"}
	for name, from := range map[string]Repository{
		"no source url":      {Password: "pw"},
		"no source password": {URL: filepath.Join(t.TempDir(), "src")},
		"same repository":    {URL: dst.URL, Password: "pw"},
	} {
		res, err := r.Run(context.Background(), dst, CopyJob{From: from}, nil)
		if !errors.Is(err, ErrInvalidRepository) || res.Events != 0 {
			t.Errorf("%s: %+v, %v", name, res, err)
		}
	}
}
