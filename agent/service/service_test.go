package service

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnitGolden pins the unit file users get (regenerate with
// RM_UPDATE_GOLDEN=1).
func TestSystemdUnitGolden(t *testing.T) {
	t.Parallel()
	got := SystemdUnit(Options{
		Name: DefaultName, User: DefaultUser,
		Binary: "/usr/local/bin/restic-manager-agent", ConfigPath: "/etc/restic-manager-agent/agent.hcl",
	})
	golden := filepath.Join("testdata", "restic-manager-agent.service")
	if os.Getenv("RM_UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, []byte(got), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("unit:\n%s\nwant:\n%s", got, want)
	}
}

func TestSystemdUnitKeepsBackupsWorking(t *testing.T) {
	t.Parallel()
	unit := SystemdUnit(Options{Name: DefaultName, User: "backup", Binary: "/b", ConfigPath: "/c"})
	for _, want := range []string{"Restart=on-failure", "User=backup", "KillMode=mixed", "WantedBy=multi-user.target", "NoNewPrivileges=yes"} {
		if !strings.Contains(unit, want+"\n") {
			t.Errorf("unit lacks %s", want)
		}
	}
	// Each of these would break a backup or a restore.
	for _, bad := range []string{"ProtectSystem", "ProtectHome", "PrivateTmp", "ReadOnlyPaths", "CapabilityBoundingSet", "RestrictSUIDSGID", "PrivateDevices"} {
		if strings.Contains(unit, bad) {
			t.Errorf("unit sets %s", bad)
		}
	}
}

func TestSystemdQuote(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"/usr/bin/restic-manager-agent": `"/usr/bin/restic-manager-agent"`,
		"/opt/my agent/bin":             `"/opt/my agent/bin"`,
		`/odd/"quoted"\path`:            `"/odd/\"quoted\"\\path"`,
		"/srv/100%/$HOME":               `"/srv/100%%/$$HOME"`,
	}
	for in, want := range tests {
		if got := systemdQuote(in); got != want {
			t.Errorf("systemdQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestOptionsAreChecked(t *testing.T) {
	t.Parallel()
	tests := map[string]Options{
		"user with a space": {User: "root --x", ConfigPath: "/c"},
		"name with a slash": {Name: "../x", ConfigPath: "/c"},
		"newline in path":   {ConfigPath: "/etc/a\nExecStartPre=/bin/evil"},
		"no config":         {},
	}
	for name, o := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o.Binary = "/usr/bin/agent"
			if _, err := o.withDefaults(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("withDefaults: %v, want ErrInvalid", err)
			}
		})
	}
	o, err := Options{Binary: "agent", ConfigPath: "agent.hcl"}.withDefaults()
	if err != nil || !filepath.IsAbs(o.Binary) || !filepath.IsAbs(o.ConfigPath) || o.User != DefaultUser || o.Name != DefaultName {
		t.Fatalf("defaults %+v, %v", o, err)
	}
}
