package restic

import (
	"errors"
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		out     string
		want    Version
		tooOld  bool
		invalid bool
	}{
		"0.18.1": {
			out:  "restic 0.18.1 compiled with go1.24.4 on linux/amd64\n",
			want: Version{Major: 0, Minor: 18, Patch: 1, GoVersion: "go1.24.4", OS: "linux", Arch: "amd64"},
		},
		"debian 0.14.0": {
			out:  "restic 0.14.0 compiled with go1.19.8 on linux/arm64",
			want: Version{Minor: 14, GoVersion: "go1.19.8", OS: "linux", Arch: "arm64"},
		},
		"windows": {
			out:  "restic 0.17.3 compiled with go1.23.3 on windows/amd64\r\n",
			want: Version{Minor: 17, Patch: 3, GoVersion: "go1.23.3", OS: "windows", Arch: "amd64"},
		},
		"dev build": {
			out:  "restic 0.16.0-dev (compiled manually) compiled with go1.20.5 on linux/amd64",
			want: Version{Minor: 16, Suffix: "-dev", GoVersion: "go1.20.5", OS: "linux", Arch: "amd64"},
		},
		"old with date": {
			out:    "restic 0.9.6 (2019-11-22) compiled with go1.13.4 on linux/amd64",
			want:   Version{Minor: 9, Patch: 6, GoVersion: "go1.13.4", OS: "linux", Arch: "amd64"},
			tooOld: true,
		},
		"just below minimum": {
			out:    "restic 0.13.1 compiled with go1.18 on linux/amd64",
			want:   Version{Minor: 13, Patch: 1, GoVersion: "go1.18", OS: "linux", Arch: "amd64"},
			tooOld: true,
		},
		"future major": {
			out:  "restic 1.0.0 compiled with go1.30 on linux/amd64",
			want: Version{Major: 1, GoVersion: "go1.30", OS: "linux", Arch: "amd64"},
		},
		"warning first": {
			out:  "some warning\nrestic 0.17.0 compiled with go1.22.5 on linux/amd64",
			want: Version{Minor: 17, GoVersion: "go1.22.5", OS: "linux", Arch: "amd64"},
		},
		"not restic":   {out: "rustic 0.9.0", invalid: true},
		"empty":        {out: "", invalid: true},
		"garbage line": {out: "restic version unknown", invalid: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseVersion(tc.out)
			if tc.invalid {
				if !errors.Is(err, ErrUnknownVersion) {
					t.Fatalf("err = %v, want ErrUnknownVersion", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseVersion = %+v, %v; want %+v", got, err, tc.want)
			}
			err = CheckSupported(got)
			var old *ErrTooOld
			if tc.tooOld != errors.As(err, &old) {
				t.Fatalf("CheckSupported(%s) = %v", got, err)
			}
			if tc.tooOld && (!strings.Contains(err.Error(), "0.14.0 or newer") || !strings.Contains(err.Error(), "apt-get install restic")) {
				t.Errorf("too-old message unclear: %v", err)
			}
		})
	}
}

func TestVersionCompare(t *testing.T) {
	t.Parallel()
	if !V(0, 18, 1).AtLeast(V(0, 17, 0)) || V(0, 16, 9).AtLeast(V(0, 17, 0)) || !V(1, 0, 0).AtLeast(V(0, 99, 99)) {
		t.Error("AtLeast is wrong")
	}
	dev := Version{Minor: 18, Patch: 1, Suffix: "-dev"}
	if !dev.AtLeast(V(0, 18, 1)) || dev.String() != "0.18.1-dev" {
		t.Errorf("a -dev build is the release it follows: %s", dev)
	}
}

func TestUnsupportedMessage(t *testing.T) {
	t.Parallel()
	err := require("restore --overwrite", V(0, 17, 0), V(0, 14, 0))
	var u *ErrUnsupported
	if !errors.As(err, &u) || err.Error() != "restore --overwrite needs restic 0.17.0 or newer, but restic 0.14.0 is installed" {
		t.Fatalf("err = %v", err)
	}
}
