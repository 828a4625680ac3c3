package timing

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestNext(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		expr  string
		every time.Duration
		zone  string
		after string
		want  []string
	}{
		"five fields in UTC": {
			expr: "30 3 * * *", after: "2026-03-01T00:00:00Z",
			want: []string{"2026-03-01T03:30:00Z", "2026-03-02T03:30:00Z"},
		},
		"seconds field": {
			expr: "*/20 * * * * *", after: "2026-03-01T00:00:05Z",
			want: []string{"2026-03-01T00:00:20Z", "2026-03-01T00:00:40Z", "2026-03-01T00:01:00Z"},
		},
		"descriptor": {
			expr: "@daily", after: "2026-03-01T10:00:00Z",
			want: []string{"2026-03-02T00:00:00Z"},
		},
		"time zone": {
			expr: "0 3 * * *", zone: "Europe/Berlin", after: "2026-01-10T00:00:00Z",
			want: []string{"2026-01-10T02:00:00Z", "2026-01-11T02:00:00Z"},
		},
		// Berlin moves to summer time on 2026-03-29 at 02:00: 03:00 local
		// is 01:00 UTC from then on.
		"daylight saving time": {
			expr: "0 3 * * *", zone: "Europe/Berlin", after: "2026-03-28T12:00:00Z",
			want: []string{"2026-03-29T01:00:00Z", "2026-03-30T01:00:00Z"},
		},
		"interval aligned to the epoch": {
			every: 6 * time.Hour, after: "2026-03-01T07:13:00Z",
			want: []string{"2026-03-01T12:00:00Z", "2026-03-01T18:00:00Z", "2026-03-02T00:00:00Z"},
		},
		"seconds interval": {
			every: 7 * time.Second, after: "1970-01-01T00:00:06Z",
			want: []string{"1970-01-01T00:00:07Z", "1970-01-01T00:00:14Z"},
		},
		"interval ignores the zone": {
			every: 24 * time.Hour, zone: "America/New_York", after: "2026-03-01T12:00:00Z",
			want: []string{"2026-03-02T00:00:00Z"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse(tc.expr, tc.every, tc.zone)
			if err != nil {
				t.Fatal(err)
			}
			at := mustTime(t, tc.after)
			for _, w := range tc.want {
				at = s.Next(at)
				if !at.Equal(mustTime(t, w)) {
					t.Fatalf("next = %s, want %s", at.Format(time.RFC3339), w)
				}
			}
		})
	}
}

func TestNextIsStrictlyAfter(t *testing.T) {
	t.Parallel()
	s, err := Parse("", 10*time.Second, "")
	if err != nil {
		t.Fatal(err)
	}
	at := mustTime(t, "2026-03-01T00:00:10Z")
	if got := s.Next(at); !got.Equal(at.Add(10 * time.Second)) {
		t.Fatalf("next after a fire time = %s; want the following one", got)
	}
	c, err := Parse("*/10 * * * * *", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Next(at); !got.Equal(at.Add(10 * time.Second)) {
		t.Fatalf("cron next after a fire time = %s; want the following one", got)
	}
}

func TestParseNamesTheField(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		expr  string
		every time.Duration
		zone  string
		field string
		msg   string
	}{
		"nothing":          {field: "cron", msg: "give a cron expression or an interval"},
		"both":             {expr: "* * * * *", every: time.Hour, field: "every", msg: "not both"},
		"bad cron":         {expr: "every day", field: "cron", msg: "expected"},
		"too many fields":  {expr: "0 0 0 0 0 0 0", field: "cron"},
		"out of range":     {expr: "61 * * * *", field: "cron", msg: "61"},
		"never":            {expr: "0 0 30 2 *", field: "cron", msg: "never fires"},
		"zone prefix":      {expr: "TZ=Europe/Berlin 0 3 * * *", field: "cron", msg: "timezone"},
		"@every":           {expr: "@every 5m", field: "cron", msg: "interval"},
		"unknown zone":     {expr: "0 3 * * *", zone: "Mars/Olympus", field: "timezone", msg: "IANA"},
		"Local zone":       {expr: "0 3 * * *", zone: "Local", field: "timezone", msg: "differs"},
		"path as zone":     {expr: "0 3 * * *", zone: "../../etc/passwd", field: "timezone"},
		"too short":        {every: 500 * time.Millisecond, field: "every"},
		"fractional":       {every: 1500 * time.Millisecond, field: "every"},
		"too long":         {every: 400 * 24 * time.Hour, field: "every"},
		"negative":         {every: -time.Hour, field: "every"},
		"control":          {expr: "0 3 * * *\n", field: "cron"},
		"control in field": {expr: "0 3\t* * *\x01", field: "cron"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tc.expr, tc.every, tc.zone)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Parse = %v, want a *FieldError", err)
			}
			if fe.Field != tc.field || !strings.HasPrefix(err.Error(), tc.field+": ") || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Parse = %q (field %s), want field %s and %q", err, fe.Field, tc.field, tc.msg)
			}
		})
	}
}

func TestCheckJitter(t *testing.T) {
	t.Parallel()
	now := mustTime(t, "2026-03-01T00:00:00Z")
	every, _ := Parse("", time.Hour, "")
	weekdays, _ := Parse("0 3 * * 1-5", 0, "Europe/Berlin")
	for name, tc := range map[string]struct {
		spec   Spec
		jitter time.Duration
		ok     bool
	}{
		"none":                     {every, 0, true},
		"shorter than the gap":     {every, 59 * time.Minute, true},
		"as long as the gap":       {every, time.Hour, false},
		"negative":                 {every, -time.Second, false},
		"fractional":               {every, 1500 * time.Millisecond, false},
		"cron: the shortest gap":   {weekdays, 23 * time.Hour, true},
		"cron: longer than a day":  {weekdays, 25 * time.Hour, false},
		"over the cap on its own":  {Spec{every: 30 * 24 * time.Hour}, 25 * time.Hour, false},
		"at the cap, longer gap":   {Spec{every: 30 * 24 * time.Hour}, 24 * time.Hour, true},
		"cron gap of one second":   {mustSpec(t, "* * * * * *"), time.Second, false},
		"cron gap of five minutes": {mustSpec(t, "*/5 * * * *"), 4 * time.Minute, true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := tc.spec.CheckJitter(tc.jitter, now)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckJitter(%s) = %v, want ok=%v", tc.jitter, err, tc.ok)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "jitter: ") {
				t.Fatalf("error %q does not name the field", err)
			}
		})
	}
}

func mustSpec(t *testing.T, expr string) Spec {
	t.Helper()
	s, err := Parse(expr, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJitterStaysInRange(t *testing.T) {
	t.Parallel()
	if Jitter(0) != 0 {
		t.Fatal("Jitter(0) is not 0")
	}
	seen := map[time.Duration]bool{}
	for range 2000 {
		d := Jitter(10 * time.Second)
		if d < 0 || d >= 10*time.Second || d%time.Millisecond != 0 {
			t.Fatalf("Jitter(10s) = %s", d)
		}
		seen[d/time.Second] = true
	}
	if len(seen) != 10 {
		t.Fatalf("2000 jitters fell in %d of the 10 seconds; want all of them", len(seen))
	}
}

func TestDurations(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"6h": "6h", "90s": "1m30s", "1h30m": "1h30m", "7d": "7d", "24h": "1d", "2h0m5s": "2h0m5s", "45m": "45m", "0s": "0s",
	} {
		d, err := ParseDuration(in)
		if err != nil {
			t.Fatalf("ParseDuration(%q): %v", in, err)
		}
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(ParseDuration(%q)) = %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"", "6", "x", "-3d", "1.5d", "99999d"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) did not fail", bad)
		}
	}
}
