package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Downloads from the snapshot browser with real parts: a backup through the
// real agent and restic, then files and folders of its snapshot fetched
// through the API (restic dump on the host, streamed through the agent
// connection), compared byte for byte with what is on disk.

// dumpGet starts a download as token; the caller closes the body.
func (r *rig) dumpGet(token, snap, p, format string) *http.Response {
	r.t.Helper()
	q := url.Values{"path": {p}}
	if format != "" {
		q.Set("format", format)
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+r.srv.addr+"/api/v1/hosts/"+r.hostID+"/snapshots/"+snap+"/dump?"+q.Encode(), nil)
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	return res
}

// dumpAll downloads p and returns the headers and body, wanting 200.
func (r *rig) dumpAll(snap, p, format string) (http.Header, []byte) {
	r.t.Helper()
	res := r.dumpGet(r.admin, snap, p, format)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		r.t.Fatalf("download %s: %v after %d bytes", p, err, len(body))
	}
	if res.StatusCode != http.StatusOK {
		r.t.Fatalf("download %s: %d %s", p, res.StatusCode, body)
	}
	return res.Header, body
}

// checkArchive compares the files of an archive with dir on disk: each
// entry ending in dir's relative path holds the same bytes.
func checkArchive(t *testing.T, what, dir string, files map[string][]byte) {
	t.Helper()
	want := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		want[filepath.ToSlash(strings.TrimPrefix(p, dir))] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Errorf("%s holds %d files, %s %d", what, len(files), dir, len(want))
	}
	for rel, b := range want {
		found := false
		for name, got := range files {
			if strings.HasSuffix("/"+strings.TrimPrefix(name, "/"), rel) {
				found = true
				if !bytes.Equal(got, b) {
					t.Errorf("%s: %s differs from the original (%d bytes, want %d)", what, name, len(got), len(b))
				}
			}
		}
		if !found {
			t.Errorf("%s has no %s", what, rel)
		}
	}
}

func TestEndToEndDownload(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	src := filepath.Join(t.TempDir(), "src")
	writeTree(t, src, 11, 30, 1, 200<<10)                          // d000 … d002
	writeTree(t, filepath.Join(src, "many"), 12, 1200, 300, 600)   // small files: tar headers dwarf them
	writeTree(t, filepath.Join(src, "big"), 13, 1, 40<<20, 40<<20) // one 40 MiB file
	if err := os.WriteFile(filepath.Join(src, "d000", "name with \"quotes\".txt"), []byte("quoted\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	id := r.runJob("backup", "--path", src)
	if res := r.waitJob(id); res.code != 0 {
		t.Fatalf("backup: %s %s", res.stdout, res.stderr)
	}
	snap := r.backupSnapshot(id, src, 1232)
	r.waitListing(snap[:8], src, e2eBackupTimeout)

	// One file: byte-identical, as an attachment with its own name.
	file := filepath.Join(src, "d001", "f0012.bin")
	hdr, body := r.dumpAll(snap, file, "")
	want, _ := os.ReadFile(file)
	if !bytes.Equal(body, want) {
		t.Fatalf("downloaded file: %d bytes, differs from the original's %d", len(body), len(want))
	}
	if cd := hdr.Get("Content-Disposition"); cd != `attachment; filename=f0012.bin` || hdr.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("file headers: %v", hdr)
	}
	// Its length is known from the listing: exact for a file.
	if n := strconv.Itoa(len(want)); hdr.Get("Content-Length") != n || hdr.Get("X-Download-Size") != n {
		t.Errorf("file length headers %q and %q, want %s", hdr.Get("Content-Length"), hdr.Get("X-Download-Size"), n)
	}
	jobID := hdr.Get("X-Job-Id")
	eventuallyE2EWithin(t, 30*time.Second, "the download's job to succeed", func() bool { return r.job(jobID)["status"] == "succeeded" })
	if sum, _ := r.job(jobID)["summary"].(map[string]any); sum == nil || sum["bytes_sent"] != float64(len(want)) {
		t.Errorf("the download's job summary %v, want bytes_sent %d", r.job(jobID)["summary"], len(want))
	}
	// Its bytes never reach the job log.
	for _, l := range r.logs(jobID) {
		if l.Type == "data" || len(l.Line) > 4096 {
			t.Errorf("job log row %d holds output: %.200s", l.Seq, l.Line)
		}
	}
	hdr, body = r.dumpAll(snap, filepath.Join(src, "d000", `name with "quotes".txt`), "")
	if string(body) != "quoted\n" || !strings.Contains(hdr.Get("Content-Disposition"), `name with _quotes_.txt`) {
		t.Errorf("quoted name: %q %v", body, hdr.Get("Content-Disposition"))
	}

	// A folder as zip (the default) and as tar, read back in Go.
	folder := filepath.Join(src, "d002")
	hdr, body = r.dumpAll(snap, folder, "")
	if hdr.Get("Content-Type") != "application/zip" || !strings.Contains(hdr.Get("Content-Disposition"), "d002.zip") {
		t.Errorf("zip headers: %v", hdr)
	}
	// A folder's size is the sum of its files', the progress bar's measure.
	folderBytes := 0
	_ = filepath.WalkDir(folder, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				folderBytes += int(fi.Size())
			}
		}
		return nil
	})
	if got := hdr.Get("X-Download-Size"); got != strconv.Itoa(folderBytes) || hdr.Get("Content-Length") != "" {
		t.Errorf("folder size header %q (Content-Length %q), want %d and no length", got, hdr.Get("Content-Length"), folderBytes)
	}
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatalf("the zip download does not open: %v", err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("zip entry %s: %v", f.Name, err)
		}
		files[f.Name] = b
	}
	checkArchive(t, "the zip", folder, files)

	hdr, body = r.dumpAll(snap, folder, "tar")
	if hdr.Get("Content-Type") != "application/x-tar" || !strings.Contains(hdr.Get("Content-Disposition"), "d002.tar") {
		t.Errorf("tar headers: %v", hdr)
	}
	tr := tar.NewReader(bytes.NewReader(body))
	files = map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the tar download: %v", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = b
	}
	checkArchive(t, "the tar", folder, files)

	// Refusals before anything runs.
	for name, tc := range map[string]struct {
		token, path string
		status      int
	}{
		"viewer":    {r.viewerToken(), file, http.StatusForbidden},
		"missing":   {r.admin, src + "/nope.bin", http.StatusNotFound},
		"bad path":  {r.admin, "../etc/passwd", http.StatusBadRequest},
		"root link": {r.admin, "/proc/self", http.StatusNotFound},
	} {
		res := r.dumpGet(tc.token, snap, tc.path, "")
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.status || !strings.Contains(string(b), `"error"`) {
			t.Errorf("%s: %d %s, want %d with a JSON error", name, res.StatusCode, b, tc.status)
		}
	}

	// The client goes away mid-download: the agent's job is cancelled and
	// restic stops. The reader is slow first, so progress is reported.
	res := r.dumpGet(r.admin, snap, filepath.Join(src, "big", "d000", "f0000.bin"), "")
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("big download: %d %s", res.StatusCode, b)
	}
	bigJob := res.Header.Get("X-Job-Id")
	buf := make([]byte, 256<<10)
	for range 12 {
		if _, err := io.ReadFull(res.Body, buf); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	res.Body.Close()
	eventuallyE2EWithin(t, 30*time.Second, "the abandoned download's job to be cancelled", func() bool {
		return r.job(bigJob)["status"] == "cancelled" && len(r.resticPIDs()) == 0
	})
	progress := false
	for _, l := range r.logs(bigJob) {
		progress = progress || (l.Type == "progress" && strings.Contains(l.Line, `"bytes_done"`))
	}
	if !progress {
		t.Errorf("the download's job page shows no bytes sent: %+v", r.logs(bigJob))
	}

	// A limit of 1 MiB: the 40 MiB file is refused before it starts, and
	// the folder of small files, under the limit in content but over it
	// as a tar, is cut once the limit is crossed.
	_ = r.srv.cmd.Process.Kill()
	if err := <-r.srv.done; err == nil {
		t.Fatal("the killed server exited cleanly")
	}
	cfg, err := os.ReadFile(r.srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.srvCfg, bytes.Replace(cfg, []byte("server {\n"), []byte("server {\n  download_limit_mib = 1\n"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	r.restartServer()
	r.waitHostStatus("online")
	res = r.dumpGet(r.admin, snap, filepath.Join(src, "big", "d000", "f0000.bin"), "")
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "download_limit_mib") {
		t.Errorf("over the limit: %d %s, want 413", res.StatusCode, b)
	}
	res = r.dumpGet(r.admin, snap, filepath.Join(src, "many"), "tar")
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("small files as tar: %d %s", res.StatusCode, b)
	}
	cutJob := res.Header.Get("X-Job-Id")
	got, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err == nil || len(got) > 1<<20 {
		t.Errorf("a download over the limit ended normally after %d bytes (%v)", len(got), err)
	}
	eventuallyE2EWithin(t, 30*time.Second, "the cut download's job to be cancelled", func() bool {
		j := r.job(cutJob)
		return j["status"] == "cancelled" && strings.Contains(j["error"].(string), "limit")
	})

	// Offline host: 409.
	r.agent.kill(t)
	r.waitHostStatus("offline")
	res = r.dumpGet(r.admin, snap, file, "")
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusConflict || !strings.Contains(string(b), "host_offline") {
		t.Errorf("offline host: %d %s, want 409 host_offline", res.StatusCode, b)
	}
	r.checkSecrets()
}
