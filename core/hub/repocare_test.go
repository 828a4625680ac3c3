package hub

import (
	"encoding/json"
	"testing"
)

func TestRepositoryStatsFromSummary(t *testing.T) {
	t.Parallel()
	doc := `{"message_type":"repository_stats","snapshots_count":3,"total_size":1000,"raw_data_size":400}`
	for name, tc := range map[string]struct {
		params, summary string
		ok              bool
		total, raw      int64 // -1: not set
	}{
		"repository mode":  {`{"extra":{"mode":"repository"}}`, doc, true, 1000, 400},
		"raw-data":         {`{"extra":{"mode":"raw-data"}}`, `{"total_size":400,"snapshots_count":3}`, true, -1, 400},
		"restore-size":     {`{}`, `{"total_size":1000,"snapshots_count":3}`, true, 1000, -1},
		"filtered by host": {`{"host":"web1","extra":{"mode":"repository"}}`, doc, false, 0, 0},
		"some snapshots":   {`{"snapshots":["abc"]}`, doc, false, 0, 0},
		"other mode":       {`{"extra":{"mode":"files-by-contents"}}`, doc, false, 0, 0},
		"no count":         {`{}`, `{"total_size":5}`, false, 0, 0},
	} {
		s, ok := repositoryStats(json.RawMessage(tc.params), json.RawMessage(tc.summary))
		if ok != tc.ok {
			t.Errorf("%s: ok %v, want %v", name, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		val := func(p *int64) int64 {
			if p == nil {
				return -1
			}
			return *p
		}
		if val(s.TotalSize) != tc.total || val(s.RawSize) != tc.raw || val(s.SnapshotCount) != 3 {
			t.Errorf("%s: total %d raw %d count %d", name, val(s.TotalSize), val(s.RawSize), val(s.SnapshotCount))
		}
	}
}

func TestPrunesDecidesWhoGetsTheAdminPassword(t *testing.T) {
	t.Parallel()
	for kind, tc := range map[string]struct {
		kind, params string
		want         bool
	}{
		"prune":            {"prune", `{}`, true},
		"forget and prune": {"forget", `{"retention":{"keep_last":1},"prune":true}`, true},
		"forget":           {"forget", `{"retention":{"keep_last":1}}`, false},
		"backup":           {"backup", `{"prune":true}`, false},
		"check":            {"check", ``, false},
	} {
		if got := prunes(tc.kind, json.RawMessage(tc.params)); got != tc.want {
			t.Errorf("%s: prunes = %v, want %v", kind, got, tc.want)
		}
	}
}
