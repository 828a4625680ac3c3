package ui

import (
	"reflect"
	"testing"
)

func TestRestoreMovesRemapUnderTheTarget(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		form  restoreForm
		snap  []string
		moves []pathMove
	}{
		"original location keeps the paths": {
			restoreForm{Mode: "original", Includes: []string{"/srv/a.txt"}},
			nil,
			[]pathMove{{"/srv/a.txt", "/srv/a.txt"}},
		},
		"full paths under the target": {
			restoreForm{Mode: "other", Target: "/restore", Includes: []string{"/srv/www/a.txt", "/etc/hosts"}},
			nil,
			[]pathMove{{"/srv/www/a.txt", "/restore/srv/www/a.txt"}, {"/etc/hosts", "/restore/etc/hosts"}},
		},
		"stripped components": {
			restoreForm{Mode: "other", Target: "/restore", Strip: "2", Includes: []string{"/srv/www/a.txt"}},
			nil,
			[]pathMove{{"/srv/www/a.txt", "/restore/a.txt"}},
		},
		"the whole snapshot is its paths": {
			restoreForm{Mode: "other", Target: "/r"},
			[]string{"/home/alice"},
			[]pathMove{{"/home/alice", "/r/home/alice"}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := tc.form.Moves(tc.snap); !reflect.DeepEqual(got, tc.moves) {
				t.Fatalf("moves %v, want %v", got, tc.moves)
			}
		})
	}
}

func TestRestoreBodyOntoAnotherHost(t *testing.T) {
	t.Parallel()
	same, err := restoreForm{Snapshot: "abc", Mode: "original", ToHost: "h1"}.body("h1")
	if err != nil || same["to_host"] != nil || same["target"] != nil {
		t.Fatalf("onto the snapshot's own host: %v %v, want no to_host and no target", same, err)
	}
	orig, err := restoreForm{Snapshot: "abc", Mode: "original", ToHost: "h2"}.body("h1")
	if err != nil || orig["to_host"] != "h2" || orig["target"] != "/" {
		t.Fatalf("onto another host, original location: %v %v, want to_host h2 and target /", orig, err)
	}
	dir, err := restoreForm{Snapshot: "abc", Mode: "other", Target: "/restore", ToHost: "h2"}.body("h1")
	if err != nil || dir["to_host"] != "h2" || dir["target"] != "/restore" {
		t.Fatalf("onto another host, a directory: %v %v", dir, err)
	}
	if _, err := (restoreForm{Snapshot: "abc", Mode: "other", ToHost: "h2"}).body("h1"); err == nil {
		t.Fatal("another directory without one was accepted")
	}
}
