package backend

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/plugins/backend-restic/internal/restictest"
	"github.com/restic-manager/restic-manager/plugins/backend-restic/restic"
	sdk "github.com/restic-manager/restic-manager/sdk/backend"
)

// TestDump runs the dump kind over gRPC against a real repository: a file
// comes back byte for byte as Data events, never as log lines; a folder
// comes back as a tar archive of its files.
func TestDump(t *testing.T) {
	t.Parallel()
	b := configured(t)
	repo := newRepository(t, b)
	data := filepath.Join(t.TempDir(), "data")
	big := restictest.RandomBytes(t, 3<<20)
	restictest.WriteFile(t, filepath.Join(data, "big.bin"), big)
	restictest.WriteFile(t, filepath.Join(data, "sub", "a.txt"), []byte("alpha\n"))
	_, res := mustRun(t, b, sdk.Job{ID: "backup", Kind: sdk.JobBackup, Repository: repo, Args: sdk.Args{Paths: []string{data}}})
	snap := res.SnapshotID

	dump := func(p string, extra string) (*recorder, []byte) {
		t.Helper()
		evs, res := mustRun(t, b, sdk.Job{ID: "dump", Kind: sdk.JobDump, Repository: repo, Args: sdk.Args{
			Snapshots: []string{snap}, Paths: []string{p}, Extra: []byte(extra),
		}})
		if res.ExitCode != 0 {
			t.Fatalf("dump %s: %+v %s", p, res, evs.dump())
		}
		var out bytes.Buffer
		for _, ev := range evs.all() {
			switch {
			case ev.Data != nil:
				if len(ev.Data.Bytes) > sdk.MaxDataBytes {
					t.Errorf("a data event of %d bytes", len(ev.Data.Bytes))
				}
				out.Write(ev.Data.Bytes)
			case ev.Log != nil && ev.Log.Stream == sdk.StreamStdout:
				t.Errorf("dump output came as a log line: %.100q", ev.Log.Text)
			}
		}
		return evs, out.Bytes()
	}
	if _, got := dump(filepath.Join(data, "big.bin"), ""); !bytes.Equal(got, big) {
		t.Fatalf("dumped file: %d bytes, differs from the original's %d", len(got), len(big))
	}
	_, got := dump(filepath.Join(data, "sub"), `{"archive":"tar"}`)
	tr := tar.NewReader(bytes.NewReader(got))
	found := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("dumped folder is not a tar: %v", err)
		}
		if strings.HasSuffix(h.Name, "/a.txt") || h.Name == "a.txt" {
			b, _ := io.ReadAll(tr)
			found = string(b) == "alpha\n"
		}
	}
	if !found {
		t.Errorf("the tar holds no a.txt with its content")
	}

	// A path the snapshot lacks fails with restic's message.
	_, _, err := run(t, b, sdk.Job{ID: "dump", Kind: sdk.JobDump, Repository: repo, Args: sdk.Args{Snapshots: []string{snap}, Paths: []string{"/nope"}}})
	if err == nil {
		t.Errorf("dump of a missing path succeeded")
	}
}

func TestDumpJobRefuses(t *testing.T) {
	t.Parallel()
	for name, args := range map[string]sdk.Args{
		"no snapshot":   {Paths: []string{"/a"}},
		"two paths":     {Snapshots: []string{"s"}, Paths: []string{"/a", "/b"}},
		"unknown extra": {Snapshots: []string{"s"}, Paths: []string{"/a"}, Extra: []byte(`{"archiv":"zip"}`)},
	} {
		if _, err := resticJob(sdk.Job{Kind: sdk.JobDump, Args: args}); !errors.Is(err, restic.ErrInvalidJob) {
			t.Errorf("%s: %v, want ErrInvalidJob", name, err)
		}
	}
}
