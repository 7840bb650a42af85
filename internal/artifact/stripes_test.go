package artifact

import (
	"slices"
	"testing"
)

func TestStripePaths(t *testing.T) {
	got := StripePaths("s3://h/b/P/Sales/full_20261203T0700Z.bak", 3)
	want := []string{"s3://h/b/P/Sales/full_20261203T0700Z.bak", "s3://h/b/P/Sales/full_20261203T0700Z.s02of03.bak", "s3://h/b/P/Sales/full_20261203T0700Z.s03of03.bak"}
	if !slices.Equal(got, want) {
		t.Fatalf("StripePaths: %q, want %q", got, want)
	}
	if got := StripePaths("P/Sales/log.trn", 1); !slices.Equal(got, []string{"P/Sales/log.trn"}) {
		t.Errorf("one stripe: %q", got)
	}
	for _, p := range want[1:] {
		first, i, n, ok := ParseStripe(p)
		if !ok || first != want[0] || n != 3 || StripePath(first, i, n) != p {
			t.Errorf("ParseStripe(%q) = %q %d %d %v", p, first, i, n, ok)
		}
	}
	for _, p := range []string{want[0], "a/x.s01of03.bak", "a/x.s04of03.bak", "a/x.s02of65.bak", "a/x.sxxof03.bak", "a/x.s02o f03.bak", "a/.s02of03"} {
		if _, _, _, ok := ParseStripe(p); ok {
			t.Errorf("ParseStripe(%q) took it for a stripe", p)
		}
	}
}
