package hub_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/hub"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// benchServer is a test server with the production defaults for batching
// (50 ms or 1,000 rows) and an agent that has a running backup.
func benchServer(b *testing.B) (*testServer, *testAgent, string) {
	b.Helper()
	s := newTestServer(b, func(o *hub.Options) {
		def := hub.Options{}
		o.FlushInterval, o.FlushRows = def.FlushInterval, def.FlushRows
	})
	_, cred := s.enroll(b, "bench")
	s.addRepo(b, "main", "bench password", nil)
	a := s.connect(b, cred)
	j := s.run(b, "bench", backupBody("main"), http.StatusCreated)
	a.waitDispatch()
	return s, a, j.ID
}

// BenchmarkIngest measures job events from one agent through the hub into
// SQLite: each op is one event sent by the agent, and the clock stops when
// the hub has acknowledged the last one (so all of them are stored). The
// agent puts the lines that come close together into one event, up to
// wire.LogBatchLines lines and wire.LogBatchBytes bytes: a fast stream of
// output travels as full events, the cases named "full". One line per
// event is what a slow trickle of output costs.
func BenchmarkIngest(b *testing.B) {
	short := strings.Repeat("x", 80) // a typical line of restic's text output
	// A line of `restic ls --json`, the fastest output restic prints.
	node := `{"name":"f0012345","type":"file","path":"/srv/data/d0012/f0012345","uid":0,"gid":0,"size":0,"mode":420,` +
		`"permissions":"-rw-r--r--","mtime":"2026-11-26T17:42:18.123456789Z","atime":"2026-11-26T17:42:18.123456789Z",` +
		`"ctime":"2026-11-26T17:42:18.123456789Z","message_type":"node","struct_type":"node"}`
	full := func(line string) int { return min(wire.LogBatchLines, wire.LogBatchBytes/len(line)) }
	cases := []struct {
		name  string
		line  string
		lines int
	}{
		{"lines_per_event=1", short, 1},
		{"lines_per_event=10", short, 10},
		{fmt.Sprintf("full/80_byte_lines/lines_per_event=%d", full(short)), short, full(short)},
		{fmt.Sprintf("full/ls_json_lines/lines_per_event=%d", full(node)), node, full(node)},
	}
	for _, tc := range cases {
		lines := tc.lines
		b.Run(tc.name, func(b *testing.B) {
			_, a, jobID := benchServer(b)
			batch := make([]string, lines)
			for i := range batch {
				batch[i] = tc.line
			}
			data, _ := json.Marshal(wire.LogData{Stream: "stdout", Lines: batch})
			// The payload is put together by hand, as a spooling agent
			// resends what it stored, so the agent side costs little of
			// the two cores this runs on.
			head := []byte(`{"job_id":"` + jobID + `","time":"` + time.Now().UTC().Format(time.RFC3339Nano) + `","kind":"log","data":`)
			head = append(head, data...)
			head = append(head, `,"seq":`...)
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				payload := strconv.AppendInt(bytes.Clone(head), int64(i+1), 10)
				a.send(wire.TypeJobEvent, json.RawMessage(append(payload, '}')))
			}
			a.waitAck(jobID, uint64(b.N))
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
			b.ReportMetric(float64(b.N*lines)/elapsed.Seconds(), "lines/s")
		})
	}
}

// BenchmarkDispatch measures the API's "run now" (POST /hosts/{id}/jobs)
// until the agent holds the job_dispatch, and reports p50 and p99.
func BenchmarkDispatch(b *testing.B) {
	s, a, _ := benchServer(b)
	body, _ := json.Marshal(map[string]any{"kind": "check", "repository": "main"})
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		req, _ := http.NewRequest("POST", s.srv.URL+"/api/v1/hosts/bench/jobs", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+s.admin)
		start := time.Now()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_ = res.Body.Close()
		d := a.waitDispatch()
		lat = append(lat, d.at.Sub(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
}

// BenchmarkLiveTailLag measures an event from the agent until a stream
// client (GET /jobs/{id}/stream) has its frame, with the production batch
// interval, and reports p50 and p99.
func BenchmarkLiveTailLag(b *testing.B) {
	s, a, jobID := benchServer(b)
	ws := s.stream(b, jobID)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		a.logEvent(jobID, uint64(i+1), "line")
		if f := readFrame(b, ws); f.Seq != int64(i+1) {
			b.Fatalf("frame %+v, want seq %d", f, i+1)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99_ms")
}
