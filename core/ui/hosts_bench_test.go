package ui

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/api"
	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
)

// Fleet size of BenchmarkDashboard: the 2,000 hosts and 50,000
// snapshots, and five finished backups per host.
const (
	benchHosts         = 2000
	benchSnapsPerHost  = 25
	benchBackupsPerHst = 5
)

// benchFleet fills a real SQLite store through the store's own methods and
// returns the UI over it with the cookie of a logged-in admin.
func benchFleet(b *testing.B) (*UI, *http.Cookie) {
	b.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "rm.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	setup, err := auth.NewToken(auth.KindSetup)
	if err != nil {
		b.Fatal(err)
	}
	u, err := New(Options{API: api.New(api.Options{Store: db, SetupTokenHash: auth.HashToken(setup), PasswordParams: auth.TestingParams})})
	if err != nil {
		b.Fatal(err)
	}

	now := time.Now()
	if err := db.CreateEnrollmentToken(ctx, store.EnrollmentToken{ID: "bench", TokenHash: "bench", CreatedAt: now, ExpiresAt: now.Add(time.Hour), UsesTotal: benchHosts}); err != nil {
		b.Fatal(err)
	}
	for _, repo := range []string{"r0", "r1"} {
		if err := db.CreateRepository(ctx, store.Repository{ID: repo, Name: repo, URL: "/srv/" + repo, CreatedAt: now, UpdatedAt: now}); err != nil {
			b.Fatal(err)
		}
	}
	var snaps []store.Snapshot
	for i := range benchHosts {
		id := fmt.Sprintf("h%04d", i)
		_, err := db.RedeemEnrollmentToken(ctx, store.Enrollment{
			TokenHash: "bench", Host: store.Host{ID: id, Name: fmt.Sprintf("host-%04d", i)},
			CredentialID: "c" + id, SecretHash: "s" + id, Now: now,
		})
		if err != nil {
			b.Fatal(err)
		}
		if i%3 != 0 {
			hello := store.HostHello{Hostname: id, OS: "linux", Arch: "amd64", AgentVersion: "1.0.0", ResticVersion: "0.18.1"}
			if err := db.UpdateHostHello(ctx, id, hello, now.Add(-time.Duration(i)*time.Second)); err != nil {
				b.Fatal(err)
			}
		}
		repo := fmt.Sprintf("r%d", i%2)
		for k := range benchBackupsPerHst {
			jid := fmt.Sprintf("j%s-%d", id, k)
			end := now.Add(-time.Duration(k*24)*time.Hour - time.Duration(i)*time.Minute)
			status := store.JobSucceeded
			if (i+k)%7 == 0 {
				status = store.JobFailed
			}
			if err := db.CreateJob(ctx, store.Job{ID: jid, HostID: id, Kind: "backup", Status: store.JobQueued, RepositoryID: repo, CreatedAt: end.Add(-time.Minute)}); err != nil {
				b.Fatal(err)
			}
			if err := db.StartJob(ctx, jid, end.Add(-time.Minute)); err != nil {
				b.Fatal(err)
			}
			if err := db.FinishJob(ctx, jid, store.JobEnd{Status: status, At: end}); err != nil {
				b.Fatal(err)
			}
		}
		for k := range benchSnapsPerHost {
			snaps = append(snaps, store.Snapshot{
				RepositoryID: repo, ID: fmt.Sprintf("%s%060d", id, k), HostID: id,
				Time: now.Add(-time.Duration(k) * time.Hour), Paths: []string{"/etc", "/srv"},
			})
		}
		if len(snaps) >= 5000 {
			if err := db.UpsertSnapshots(ctx, "", snaps, now); err != nil {
				b.Fatal(err)
			}
			snaps = snaps[:0]
		}
	}
	if err := db.UpsertSnapshots(ctx, "", snaps, now); err != nil {
		b.Fatal(err)
	}

	// The admin, through the setup page as a browser makes it.
	srv := httptest.NewServer(u)
	defer srv.Close()
	jar, err := cookiejar.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(srv.URL + "/setup")
	if err != nil {
		b.Fatal(err)
	}
	page, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		b.Fatal(err)
	}
	m := csrfField.FindStringSubmatch(string(page))
	if m == nil {
		b.Fatal("no CSRF token on the setup page")
	}
	res, err = c.PostForm(srv.URL+"/setup", url.Values{"csrf_token": {m[1]}, "setup_token": {setup}, "username": {"admin"}, "password": {testPassword}})
	if err != nil {
		b.Fatal(err)
	}
	_ = res.Body.Close()
	base, _ := url.Parse(srv.URL)
	for _, ck := range jar.Cookies(base) {
		if ck.Name == "rm_session" {
			return u, ck
		}
	}
	b.Fatal("setup gave no session")
	return nil, nil
}

// cpuTime is the CPU time the process has used (user and system, every
// thread, SQLite's included): on a busy machine it says what a render
// costs when the wall-clock figures wait for a core.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDashboard renders the dashboard over 2,000 hosts, 10,000 jobs
// and 50,000 snapshots in SQLite, through the whole handler (session,
// in-process API call, one page query and one count, template): the first
// page, a filtered one, the last page, the order by last backup and the
// rows fragment the page polls. It reports the render time's p50 and p99,
// the CPU time per render and the page's weight.
func BenchmarkDashboard(b *testing.B) {
	u, session := benchFleet(b)
	cases := []struct{ name, path, want string }{
		{"first_page", "/", "Hosts 1–50 of 2000"},
		{"filtered", "/?name=host-01&status=online", "Hosts 1–50 of 67"},
		{"late_page", "/?page=40", "Hosts 1951–2000 of 2000"},
		{"by_last_backup", "/?sort=last_backup&order=desc", "Hosts 1–50 of 2000"},
		{"rows_fragment", "/dashboard/rows?page=20", "Hosts 951–1000 of 2000"},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var times []time.Duration
			var size int
			cpu0 := cpuTime(b)
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, tc.path, nil)
				req.AddCookie(session)
				rec := httptest.NewRecorder()
				start := time.Now()
				u.ServeHTTP(rec, req)
				times = append(times, time.Since(start))
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), tc.want) {
					b.Fatalf("GET %s: %d, want 200 with %q", tc.path, rec.Code, tc.want)
				}
				size = rec.Body.Len()
			}
			cpu := cpuTime(b) - cpu0
			slices.Sort(times)
			pct := func(p float64) float64 {
				return float64(times[min(len(times)-1, int(p*float64(len(times))))].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(float64(size), "page-bytes")
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(len(times)), "cpu-ms/op")
		})
	}
}
