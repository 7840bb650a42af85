package plan

import (
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/engine"
)

// The rule apply's tail-log fence shares with planning: an identity
// decides; without one, a create date moved by whole quarter hours (a
// daylight-saving change read with today's offset) is the same database.
func TestRecreated(t *testing.T) {
	created := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for name, tt := range map[string]struct {
		identity string
		o        engine.PrimaryDatabase
		want     bool
	}{
		"same identity":         {"a", engine.PrimaryDatabase{Identity: "a", CreatedAt: created.Add(3 * time.Minute)}, false},
		"other identity":        {"a", engine.PrimaryDatabase{Identity: "b", CreatedAt: created}, true},
		"DST hour, no identity": {"", engine.PrimaryDatabase{CreatedAt: created.Add(time.Hour)}, false},
		"three minutes later":   {"", engine.PrimaryDatabase{CreatedAt: created.Add(3 * time.Minute)}, true},
		"days later":            {"", engine.PrimaryDatabase{CreatedAt: created.Add(72 * time.Hour)}, true},
		"nothing to compare":    {"", engine.PrimaryDatabase{}, false},
	} {
		if got := Recreated(tt.identity, created, &tt.o) != ""; got != tt.want {
			t.Errorf("%s: recreated %v, want %v", name, got, tt.want)
		}
	}
}
