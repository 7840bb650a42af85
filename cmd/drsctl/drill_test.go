package main

import (
	"testing"
	"time"
)

func TestParseAt(t *testing.T) {
	want := time.Date(2026, 12, 3, 3, 45, 0, 0, time.UTC)
	for _, s := range []string{"2026-12-03T03:45:00Z", "2026-12-03T04:45:00+01:00", "2026-12-03T03:45:00", "2026-12-03 03:45:00"} {
		if got, err := parseAt(s); err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("parseAt(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"yesterday", "2026-12-03", "03:45"} {
		if _, err := parseAt(s); err == nil {
			t.Errorf("parseAt(%q) must fail", s)
		}
	}
}
