package restic

import (
	"errors"
	"slices"
	"testing"
)

func TestDumpJobArgs(t *testing.T) {
	t.Parallel()
	v := V(0, 18, 1)
	got, err := DumpJob{Snapshot: "abc", Path: "/srv/a dir", Archive: ArchiveZip}.args(v)
	if err != nil || !slices.Equal(got, []string{"dump", "--json", "--archive=zip", "--", "abc", "/srv/a dir"}) {
		t.Errorf("args = %q, %v", got, err)
	}
	got, err = DumpJob{Snapshot: "abc", Path: "/etc/hosts"}.args(v)
	if err != nil || !slices.Equal(got, []string{"dump", "--json", "--", "abc", "/etc/hosts"}) {
		t.Errorf("args without archive = %q, %v", got, err)
	}
	for name, j := range map[string]DumpJob{
		"relative path": {Snapshot: "s", Path: "a"},
		"flag snapshot": {Snapshot: "--x", Path: "/a"},
		"no snapshot":   {Path: "/a"},
		"control char":  {Snapshot: "s", Path: "/a\nb"},
		"bad archive":   {Snapshot: "s", Path: "/a", Archive: "rar"},
	} {
		if _, err := j.args(v); !errors.Is(err, ErrInvalidJob) {
			t.Errorf("%s: %v, want ErrInvalidJob", name, err)
		}
	}
}
