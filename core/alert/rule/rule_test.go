package rule

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseValid(t *testing.T) {
	t.Parallel()
	off := false
	tests := map[string]struct {
		in   Input
		want Spec
	}{
		"job failed with defaults": {
			in: Input{Name: "backup-failed", On: "job_failed", Channels: []string{"ops"}, Kinds: []string{"backup"}},
			want: Spec{
				Name: "backup-failed", On: JobFailed, Channels: []string{"ops"}, MinSeverity: "warning",
				RepeatInterval: time.Hour, Enabled: true, Kinds: []string{"backup"},
			},
		},
		"stale in days, disabled": {
			in: Input{
				Name: "stale", On: "backup_stale", Channels: []string{"ops", "mail"}, MaxAge: "2d", Enabled: &off,
				MinSeverity: "critical", RepeatInterval: "90m", Hosts: []string{" web-1 "}, Repositories: []string{"main"},
			},
			want: Spec{
				Name: "stale", On: BackupStale, Channels: []string{"ops", "mail"}, MinSeverity: "critical",
				RepeatInterval: 90 * time.Minute, Hosts: []string{"web-1"}, Repositories: []string{"main"}, MaxAge: 48 * time.Hour,
			},
		},
		"offline takes the default threshold": {
			in:   Input{Name: "offline", On: "host_offline", Channels: []string{"ops"}, Tags: []string{"prod"}},
			want: Spec{Name: "offline", On: HostOffline, Channels: []string{"ops"}, MinSeverity: "warning", RepeatInterval: time.Hour, Enabled: true, Tags: []string{"prod"}, After: 10 * time.Minute},
		},
		"plugin failing": {
			in:   Input{Name: "plugins", On: "plugin_failing", Channels: []string{"a", "b"}, After: ""},
			want: Spec{Name: "plugins", On: PluginFailing, Channels: []string{"a", "b"}, MinSeverity: "warning", RepeatInterval: time.Hour, Enabled: true},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !equalSpec(got, tt.want) {
				t.Fatalf("Parse = %+v\nwant    %+v", got, tt.want)
			}
			// Input gives back what parses to the same rule.
			again, err := Parse(got.Input())
			if err != nil || !equalSpec(again, got) {
				t.Fatalf("Parse(Input()) = %+v, %v", again, err)
			}
		})
	}
}

func equalSpec(a, b Spec) bool {
	return a.Name == b.Name && a.On == b.On && slices.Equal(a.Channels, b.Channels) && a.MinSeverity == b.MinSeverity &&
		a.RepeatInterval == b.RepeatInterval && a.Enabled == b.Enabled && slices.Equal(a.Kinds, b.Kinds) &&
		slices.Equal(a.Hosts, b.Hosts) && slices.Equal(a.Tags, b.Tags) && slices.Equal(a.Repositories, b.Repositories) &&
		a.MaxAge == b.MaxAge && a.After == b.After
}

// TestParseProblems checks that each mistake is reported on its field with
// a message that says what to write instead.
func TestParseProblems(t *testing.T) {
	t.Parallel()
	base := func(mod func(*Input)) Input {
		in := Input{Name: "r", On: "job_failed", Channels: []string{"ops"}}
		mod(&in)
		return in
	}
	tests := map[string]struct {
		in        Input
		field     string
		inMessage string
	}{
		"no name":           {base(func(in *Input) { in.Name = "" }), FieldName, "is required"},
		"bad name":          {base(func(in *Input) { in.Name = "../x" }), FieldName, `"../x" is not a valid name`},
		"no condition":      {base(func(in *Input) { in.On = "" }), FieldOn, "is required: one of job_failed"},
		"unknown condition": {base(func(in *Input) { in.On = "job_failure" }), FieldOn, `"job_failure" is not a condition`},
		"no channel":        {base(func(in *Input) { in.Channels = nil }), FieldChannels, "at least one"},
		"bad channel":       {base(func(in *Input) { in.Channels = []string{"Ops Mail"} }), FieldChannels, `"Ops Mail" is not a channel name`},
		"channel twice":     {base(func(in *Input) { in.Channels = []string{"a", "a"} }), FieldChannels, `names "a" twice`},
		"severity":          {base(func(in *Input) { in.MinSeverity = "high" }), FieldMinSeverity, "info, warning or critical"},
		"repeat garbage":    {base(func(in *Input) { in.RepeatInterval = "soon" }), FieldRepeatInterval, `"soon" is not a duration`},
		"repeat too short":  {base(func(in *Input) { in.RepeatInterval = "10ms" }), FieldRepeatInterval, "out of range"},
		"unknown kind":      {base(func(in *Input) { in.Kinds = []string{"backups"} }), FieldKinds, `"backups" is not a job kind`},
		"empty host":        {base(func(in *Input) { in.Hosts = []string{"web", ""} }), FieldHosts, "empty entry"},
		"kinds on offline":  {base(func(in *Input) { in.On = "host_offline"; in.Kinds = []string{"backup"} }), FieldKinds, "does not apply to host_offline rules"},
		"repos on offline":  {base(func(in *Input) { in.On = "host_offline"; in.Repositories = []string{"x"} }), FieldRepositories, "does not apply"},
		"after on failures": {base(func(in *Input) { in.After = "5m" }), FieldAfter, "does not apply to job_failed rules"},
		"stale needs age":   {base(func(in *Input) { in.On = "backup_stale" }), FieldMaxAge, "is required for backup_stale"},
		"stale bad age":     {base(func(in *Input) { in.On = "backup_stale"; in.MaxAge = "-1h" }), FieldMaxAge, "out of range"},
		"filters on plugin": {base(func(in *Input) { in.On = "plugin_failing"; in.Hosts = []string{"web"} }), FieldHosts, "they take no filters"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tt.in)
			probs := Problems(err)
			if len(probs) != 1 {
				t.Fatalf("Parse: %d problems (%v), want one on %s", len(probs), err, tt.field)
			}
			if probs[0].Field != tt.field || !strings.Contains(probs[0].Message, tt.inMessage) {
				t.Fatalf("problem %q on %s, want %q on %s", probs[0].Message, probs[0].Field, tt.inMessage, tt.field)
			}
			if !strings.HasPrefix(err.Error(), tt.field+": ") {
				t.Fatalf("error %q does not start with the field", err)
			}
		})
	}
}

func TestParseReportsEveryProblemInFieldOrder(t *testing.T) {
	t.Parallel()
	_, err := Parse(Input{On: "backup_stale", MinSeverity: "loud", Kinds: []string{"backup"}})
	var fields []string
	for _, p := range Problems(err) {
		fields = append(fields, p.Field)
	}
	want := []string{FieldName, FieldChannels, FieldMinSeverity, FieldKinds, FieldMaxAge}
	if !slices.Equal(fields, want) {
		t.Fatalf("problems on %v, want %v (%v)", fields, want, err)
	}
}

func TestDurations(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "26h": 26 * time.Hour, "1h30m": 90 * time.Minute, "2s": 2 * time.Second} {
		d, err := ParseDuration(in)
		if err != nil || d != want {
			t.Errorf("ParseDuration(%q) = %v, %v", in, d, err)
		}
		if back, _ := ParseDuration(FormatDuration(d)); back != d {
			t.Errorf("FormatDuration(%v) = %q does not read back", d, FormatDuration(d))
		}
	}
	for d, want := range map[time.Duration]string{26 * time.Hour: "26h", 90 * time.Minute: "1h30m", 48 * time.Hour: "2d", 2 * time.Second: "2s", 0: ""} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
	for _, bad := range []string{"", "d", "xd", "5 minutes", "-d"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}
