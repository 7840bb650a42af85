package artifact

import "testing"

func TestPostgresText(t *testing.T) {
	for _, c := range []struct {
		in   LSN
		want string
	}{
		{"83886080", "0/5000000"},
		{"0", "0/0"},
		{"23803720", "0/16B3748"},
		{"4294967296", "1/0"},
		{"18446744073709551615", "FFFFFFFF/FFFFFFFF"},
		{"", ""},
		{"18446744073709551616", "18446744073709551616"}, // past 64 bits: as it is
	} {
		if got := c.in.PostgresText(); got != c.want {
			t.Errorf("LSN(%q).PostgresText() = %q, want %q", c.in, got, c.want)
		}
	}
}
