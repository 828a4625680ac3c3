package restic

import (
	"encoding/json"
	"sort"
	"strings"
)

// Redacted replaces every secret found in restic's output.
const Redacted = "[redacted]"

// scrubber replaces secrets in text. The zero value and nil scrub nothing.
type scrubber struct {
	r *strings.Replacer
}

// newScrubber scrubs each secret as written and as it appears inside a
// JSON string (quotes and backslashes escaped). Longer secrets win over
// shorter ones that are part of them.
func newScrubber(secrets []string) *scrubber {
	seen := map[string]bool{}
	var all []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		forms := []string{s}
		if b, err := json.Marshal(s); err == nil {
			forms = append(forms, string(b[1:len(b)-1]))
		}
		for _, f := range forms {
			if f != "" && !seen[f] {
				seen[f] = true
				all = append(all, f)
			}
		}
	}
	if len(all) == 0 {
		return &scrubber{}
	}
	sort.SliceStable(all, func(i, j int) bool { return len(all[i]) > len(all[j]) })
	pairs := make([]string, 0, 2*len(all))
	for _, s := range all {
		pairs = append(pairs, s, Redacted)
	}
	return &scrubber{r: strings.NewReplacer(pairs...)}
}

func (s *scrubber) str(in string) string {
	if s == nil || s.r == nil || in == "" {
		return in
	}
	return s.r.Replace(in)
}

func (s *scrubber) raw(in json.RawMessage) json.RawMessage {
	if s == nil || s.r == nil || len(in) == 0 {
		return in
	}
	return json.RawMessage(s.r.Replace(string(in)))
}

// event scrubs the free-text fields of ev in place.
func (s *scrubber) event(ev Event) {
	if s == nil || s.r == nil {
		return
	}
	switch e := ev.(type) {
	case *LogLine:
		e.Text = s.str(e.Text)
	case *Error:
		e.Message = s.str(e.Message)
		e.Item = s.str(e.Item)
	case *Summary:
		e.Raw = s.raw(e.Raw)
		if e.Init != nil {
			e.Init.Repository = s.str(e.Init.Repository)
		}
	case *Stats:
		e.Raw = s.raw(e.Raw)
	case *RepoConfig:
		e.Raw = s.raw(e.Raw)
	}
}
