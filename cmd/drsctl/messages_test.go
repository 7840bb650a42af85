package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// "-lock-timeout 5" used to answer "parse error" and the usage: the message
// now says a unit is missing, on every verb that takes the flag.
func TestLockTimeoutWithoutUnitSaysAUnitIsNeeded(t *testing.T) {
	for _, verb := range []string{"plan", "apply", "promote", "reprotect", "drill"} {
		env, out, errb := testEnv()
		code := run(context.Background(), env, []string{"-config", designExample, verb, "-lock-timeout", "5"})
		if code == 0 {
			t.Fatalf("%s: exit 0\n%s%s", verb, out, errb)
		}
		want := `invalid value "5" for flag -lock-timeout: a duration needs a unit, e.g. 5s or 5m`
		if !strings.Contains(errb.String(), want) {
			t.Errorf("%s: stderr lacks %q:\n%s", verb, want, errb)
		}
		if strings.Contains(errb.String(), "parse error") {
			t.Errorf("%s: stderr still says parse error:\n%s", verb, errb)
		}
	}
}

func TestDurationFlagParses(t *testing.T) {
	for in, want := range map[string]time.Duration{"5s": 5 * time.Second, "2m": 2 * time.Minute, "1h30m": 90 * time.Minute, "0": 0} {
		got, err := parseDurationFlag(in)
		if err != nil || got != want {
			t.Errorf("%q: got %v, %v; want %v", in, got, err, want)
		}
	}
	for in, want := range map[string]string{"5": "needs a unit", "1.5": "e.g. 1.5s", "5 minutes": "use a number and a unit", "-5s": "cannot be negative", "": "is required"} {
		if _, err := parseDurationFlag(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to contain %q", in, err, want)
		}
	}
}
