// Package testenv gives integration tests the addresses of the real servers
// scripts/testenv.sh starts (smbd, Azurite, an S3 server, …), read from the
// environment that script writes to .testenv/env.
//
// A test whose servers are not configured skips on a developer's machine and
// fails when CI is set: in CI a skipped integration test is a failure.
package testenv

import (
	"os"
	"testing"
)

// Hint is what a test says when its servers are missing.
const Hint = "start servers with scripts/testenv.sh up"

// Lookup returns the values of the named environment variables. When any is
// unset or empty it ends the test: t.Fatalf when the CI variable is set
// (non-empty), t.Skip otherwise.
func Lookup(t testing.TB, vars ...string) map[string]string {
	t.Helper()
	got := make(map[string]string, len(vars))
	var missing []string
	for _, v := range vars {
		val := os.Getenv(v)
		if val == "" {
			missing = append(missing, v)
			continue
		}
		got[v] = val
	}
	if len(missing) == 0 {
		return got
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("integration test needs %v; %s (CI must not skip)", missing, Hint)
	}
	t.Skipf("integration test needs %v; %s (CI must not skip)", missing, Hint)
	return nil
}
