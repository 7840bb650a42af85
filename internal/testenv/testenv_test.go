package testenv

import (
	"fmt"
	"strings"
	"testing"
)

// recorder stands in for a testing.T to observe how Lookup ends a test.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	panic(r)
}
func (r *recorder) Skipf(format string, args ...any) {
	r.skip = fmt.Sprintf(format, args...)
	panic(r)
}

func run(f func(tb testing.TB)) (r *recorder) {
	r = &recorder{}
	defer func() {
		if p := recover(); p != nil && p != any(r) {
			panic(p)
		}
	}()
	f(r)
	return r
}

func TestLookup(t *testing.T) {
	t.Setenv("DRSCTL_TESTENV_A", "a")
	t.Setenv("DRSCTL_TESTENV_EMPTY", "")

	t.Run("all set returns the values", func(t *testing.T) {
		t.Setenv("CI", "")
		got := Lookup(t, "DRSCTL_TESTENV_A")
		if got["DRSCTL_TESTENV_A"] != "a" {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("missing skips outside CI", func(t *testing.T) {
		t.Setenv("CI", "")
		r := run(func(tb testing.TB) { Lookup(tb, "DRSCTL_TESTENV_A", "DRSCTL_TESTENV_EMPTY") })
		if r.skip == "" || r.fatal != "" {
			t.Fatalf("skip=%q fatal=%q, want a skip", r.skip, r.fatal)
		}
		if !strings.Contains(r.skip, "scripts/testenv.sh up") {
			t.Errorf("skip message %q lacks the hint", r.skip)
		}
	})
	t.Run("missing fails in CI", func(t *testing.T) {
		t.Setenv("CI", "true")
		r := run(func(tb testing.TB) { Lookup(tb, "DRSCTL_TESTENV_UNSET_XYZ") })
		if r.fatal == "" || r.skip != "" {
			t.Fatalf("skip=%q fatal=%q, want a failure", r.skip, r.fatal)
		}
	})
}
