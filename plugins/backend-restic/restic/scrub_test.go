package restic

import (
	"encoding/json"
	"testing"
)

func TestScrubber(t *testing.T) {
	t.Parallel()
	s := newScrubber([]string{"hunter2", "hunter2-long", `quo"te\pw`, ""})
	tests := map[string]struct{ in, want string }{
		"plain":          {"Fatal: wrong password hunter2 given", "Fatal: wrong password [redacted] given"},
		"longest first":  {"x hunter2-long y", "x [redacted] y"},
		"twice":          {"hunter2hunter2", "[redacted][redacted]"},
		"json escaped":   {`{"message":"pw quo\"te\\pw"}`, `{"message":"pw [redacted]"}`},
		"raw form":       {`pw quo"te\pw`, "pw [redacted]"},
		"nothing secret": {"all good", "all good"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := s.str(tc.in); got != tc.want {
				t.Errorf("str(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}

	ev := &Summary{Raw: json.RawMessage(`{"repository":"rest:https://u:hunter2@h/"}`), Init: &InitInfo{Repository: "rest:https://u:hunter2@h/"}}
	s.event(ev)
	if ev.Init.Repository != "rest:https://u:[redacted]@h/" || !json.Valid(ev.Raw) || string(ev.Raw) != `{"repository":"rest:https://u:[redacted]@h/"}` {
		t.Errorf("summary not scrubbed: %+v %s", ev.Init, ev.Raw)
	}
	e := &Error{Message: "open /x/hunter2: denied", Item: "/x/hunter2"}
	s.event(e)
	if e.Message != "open /x/[redacted]: denied" || e.Item != "/x/[redacted]" {
		t.Errorf("error not scrubbed: %+v", e)
	}
	var none *scrubber
	if none.str("hunter2") != "hunter2" || newScrubber(nil).str("hunter2") != "hunter2" {
		t.Error("an empty scrubber changed text")
	}
}
