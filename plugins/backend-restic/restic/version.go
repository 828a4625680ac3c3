package restic

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Version is a restic release number as printed by `restic version`.
type Version struct {
	Major, Minor, Patch int
	// Suffix is what followed the number, e.g. "-dev". restic marks builds
	// made after a release with "-dev", so a suffix does not lower the version.
	Suffix string
	// GoVersion, OS and Arch are what the binary was built with, when known.
	GoVersion string
	OS        string
	Arch      string
}

// V builds a Version from its numbers.
func V(major, minor, patch int) Version { return Version{Major: major, Minor: minor, Patch: patch} }

// MinVersion is the oldest restic restic-manager drives: Debian bookworm's.
var MinVersion = V(0, 14, 0)

// Versions that brought something the runner relies on (from restic's CHANGELOG).
var (
	// VersionRestoreJSON: `restore --json` prints status/summary (0.16.0, #426).
	VersionRestoreJSON = V(0, 16, 0)
	// VersionRestoreSubfolder: the "snapshot:subfolder" syntax (0.16.0, #3871).
	VersionRestoreSubfolder = V(0, 16, 0)
	// VersionRestoreOverwrite: `restore --overwrite`, `--delete` and `--dry-run` (0.17.0, #4817, #2348, #4839).
	VersionRestoreOverwrite = V(0, 17, 0)
	// VersionExitCodes: exit codes 10 and 11 (0.17.0, #956); 12 came in 0.17.1 (#4959).
	VersionExitCodes = V(0, 17, 0)
	// VersionLsMessageType: `ls --json` carries message_type (0.17.0, #4664); older ones only struct_type.
	VersionLsMessageType = V(0, 17, 0)
	// VersionSkipIfUnchanged: `backup --skip-if-unchanged` (0.17.0).
	VersionSkipIfUnchanged = V(0, 17, 0)
	// VersionCheckJSON: `check --json` prints a summary (0.18.0, #1378).
	VersionCheckJSON = V(0, 18, 0)
	// VersionExitErrorJSON: exit errors as JSON on stderr (0.18.0, #4948).
	VersionExitErrorJSON = V(0, 18, 0)
)

// versionRE matches the first line of `restic version`, e.g.
// "restic 0.18.1 compiled with go1.24.4 on linux/amd64" or
// "restic 0.16.0-dev (compiled manually) compiled with go1.20 on linux/amd64".
var versionRE = regexp.MustCompile(`^restic\s+v?(\d+)\.(\d+)(?:\.(\d+))?(\S*)(?:.*?\scompiled with\s+(\S+)\s+on\s+([^/\s]+)/(\S+))?`)

// ParseVersion reads the output of `restic version`.
func ParseVersion(out string) (Version, error) {
	for _, line := range strings.Split(out, "\n") {
		m := versionRE.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		var v Version
		v.Major, _ = strconv.Atoi(m[1])
		v.Minor, _ = strconv.Atoi(m[2])
		if m[3] != "" {
			v.Patch, _ = strconv.Atoi(m[3])
		}
		v.Suffix = m[4]
		v.GoVersion, v.OS, v.Arch = m[5], m[6], m[7]
		return v, nil
	}
	first, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	return Version{}, fmt.Errorf("%w: %q", ErrUnknownVersion, first)
}

// String prints the release number, e.g. "0.18.1" or "0.16.0-dev".
func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d%s", v.Major, v.Minor, v.Patch, v.Suffix)
}

// Compare returns -1, 0 or +1 as v is older, the same or newer than o,
// looking at the numbers only.
func (v Version) Compare(o Version) int {
	for _, d := range [...]int{v.Major - o.Major, v.Minor - o.Minor, v.Patch - o.Patch} {
		switch {
		case d < 0:
			return -1
		case d > 0:
			return 1
		}
	}
	return 0
}

// AtLeast reports whether v is o or newer.
func (v Version) AtLeast(o Version) bool { return v.Compare(o) >= 0 }

// IsZero reports whether v is unset.
func (v Version) IsZero() bool { return v == Version{} }

// CheckSupported returns an *ErrTooOld when v is older than MinVersion.
func CheckSupported(v Version) error {
	if !v.AtLeast(MinVersion) {
		return &ErrTooOld{Found: v, Min: MinVersion}
	}
	return nil
}

// require returns an *ErrUnsupported when have is older than need.
func require(feature string, need, have Version) error {
	if have.AtLeast(need) {
		return nil
	}
	return &ErrUnsupported{Feature: feature, Need: need, Have: have}
}
