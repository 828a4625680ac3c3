package runner

import (
	"strings"
	"testing"
	"time"
)

// A backup that could not read some files (restic's exit code 3; here
// /proc/self/mem, which fails with EIO even for root) made its snapshot:
// the job succeeds, with exit code 3, a warning in its error, and an error
// event naming the file.
func TestExitCode3IsAWarning(t *testing.T) {
	srv := newTestServer(t)
	startAgent(t, srv)
	repo := seedRepo(t, "warn")
	data := writeData(t, 3, 4<<10)
	srv.waitConnected(1)

	f := runJob(t, srv, dispatchOf("warn-1", "backup", repo, map[string]any{"paths": []string{data, "/proc/self/mem"}}), 60*time.Second)
	mustSucceed(t, f)
	if f.ExitCode != 3 || !strings.HasPrefix(f.Error, "warning: restic exit code 3") {
		t.Fatalf("job_finished exit %d, error %q", f.ExitCode, f.Error)
	}
	snapshotID(t, f)
	found := false
	for _, e := range srv.stream("warn-1") {
		found = found || (e.Kind == "error" && strings.Contains(string(e.Data), `"item":"/proc/self/mem"`))
	}
	if !found {
		t.Fatal("no error event names /proc/self/mem")
	}
}
