package sdktest

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// recorder is a testing.TB that records failures instead of failing the
// test, so that a check can be run against a plugin that must fail it.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) add(msg string) {
	r.mu.Lock()
	r.msgs = append(r.msgs, msg)
	r.mu.Unlock()
}

func (r *recorder) Errorf(format string, args ...any) { r.add(fmt.Sprintf(format, args...)) }
func (r *recorder) Error(args ...any)                 { r.add(fmt.Sprint(args...)) }
func (r *recorder) Fail()                             { r.add("Fail") }
func (r *recorder) FailNow()                          { r.add("FailNow"); runtime.Goexit() }
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...); runtime.Goexit() }
func (r *recorder) Fatal(args ...any)                 { r.Error(args...); runtime.Goexit() }
func (r *recorder) Skip(args ...any)                  { runtime.Goexit() }
func (r *recorder) Skipf(format string, args ...any)  { runtime.Goexit() }
func (r *recorder) SkipNow()                          { runtime.Goexit() }
func (r *recorder) Failed() bool                      { r.mu.Lock(); defer r.mu.Unlock(); return len(r.msgs) > 0 }

// runChecks runs the suite against badnotifier in mode and returns each
// check's failure messages, by check name.
func runChecks(t *testing.T, bin, mode string) map[string][]string {
	t.Helper()
	checks := notifierChecks(t, NotifierConfig{
		Command:       bin,
		Args:          []string{mode},
		ValidConfig:   `{"ok":true}`,
		InvalidConfig: `{"ok":false}`,
	})
	failures := make(map[string][]string)
	for _, c := range checks {
		r := &recorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.run(r)
		}()
		<-done
		if len(r.msgs) > 0 {
			failures[c.name] = r.msgs
		}
	}
	return failures
}

func TestSuiteCatchesBadPlugins(t *testing.T) {
	bin := BuildPlugin(t, "./testdata/badnotifier")
	tests := map[string]struct {
		fail []string // the checks that must fail; all others must pass
		msg  string   // in the first failure of fail[0]
	}{
		"good":               {},
		"banner":             {[]string{"NoHandshake", "Stdout", "Start"}, "printed to stdout"},
		"println":            {[]string{"Stdout"}, "wrote to os.Stdout while serving"},
		"raw-stdout":         {[]string{"Stdout"}, "wrote to its real stdout after the handshake"},
		"panic-unconfigured": {[]string{"NotifyUnconfigured", "InvalidConfig", "ValidConfig", "Notify", "ConcurrentNotify", "Cancel"}, "did it panic?"},
		"accept-all":         {[]string{"InvalidConfig"}, "Configure(InvalidConfig) succeeded"},
		"bad-version":        {[]string{"Info"}, `plugin version "dev"`},
		"bad-schema":         {[]string{"ConfigSchema"}, `attribute "ok" has no description`},
	}
	for mode, tc := range tests {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			failures := runChecks(t, bin, mode)
			var failed []string
			for name := range failures {
				failed = append(failed, name)
			}
			slices.Sort(failed)
			want := slices.Clone(tc.fail)
			slices.Sort(want)
			if !slices.Equal(failed, want) {
				t.Errorf("failed checks %q, want %q; failures: %q", failed, want, failures)
			}
			if len(tc.fail) > 0 {
				if got := failures[tc.fail[0]]; len(got) == 0 || !strings.Contains(got[0], tc.msg) {
					t.Errorf("%s failed with %q, want a message containing %q", tc.fail[0], got, tc.msg)
				}
			}
		})
	}
}
