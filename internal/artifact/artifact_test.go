package artifact

import "testing"

func TestLSN_Cmp(t *testing.T) {
	tests := []struct {
		a, b LSN
		want int
	}{
		{"1", "2", -1},
		{"10", "9", 1},
		{"0009", "9", 0},
		{"99999999999999999999999", "9223372036854775807", 1}, // beyond int64
		{"123456789012345678901234", "123456789012345678901235", -1},
		{"", "1", -1},
		{"1", "", 1},
		{"", "", 0},
	}
	for _, tt := range tests {
		if got := tt.a.Cmp(tt.b); got != tt.want {
			t.Errorf("%q.Cmp(%q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestParseLSN(t *testing.T) {
	if got, err := ParseLSN(" 00042 "); err != nil || got != "42" {
		t.Errorf("ParseLSN = %q, %v; want 42", got, err)
	}
	for _, bad := range []string{"", "-1", "1.5", "12a"} {
		if _, err := ParseLSN(bad); err == nil {
			t.Errorf("ParseLSN(%q) succeeded, want error", bad)
		}
	}
}

func TestContinues(t *testing.T) {
	full := Header{Kind: Full, FirstLSN: "100", LastLSN: "200"}
	log1 := Header{Kind: Log, FirstLSN: "150", LastLSN: "300"}
	tests := []struct {
		name       string
		prev, next Header
		want       bool
	}{
		{"first log after full straddles its end", full, log1, true},
		{"first log after full starting exactly at its end", full, Header{Kind: Log, FirstLSN: "200", LastLSN: "250"}, true},
		{"first log after full starts after its end: gap", full, Header{Kind: Log, FirstLSN: "201", LastLSN: "250"}, false},
		{"first log after full ends before it: already covered", full, Header{Kind: Log, FirstLSN: "50", LastLSN: "200"}, false},
		{"consecutive logs", log1, Header{Kind: Log, FirstLSN: "300", LastLSN: "400"}, true},
		{"gap between logs", log1, Header{Kind: Log, FirstLSN: "301", LastLSN: "400"}, false},
		{"overlapping logs", log1, Header{Kind: Log, FirstLSN: "299", LastLSN: "400"}, false},
		{"a full never continues", log1, Header{Kind: Full, FirstLSN: "300", LastLSN: "400"}, false},
		{"copy-only log", log1, Header{Kind: Log, FirstLSN: "300", LastLSN: "400", CopyOnly: true}, false},
		{"other family", Header{Kind: Log, LastLSN: "300", FamilyGUID: "a"}, Header{Kind: Log, FirstLSN: "300", LastLSN: "400", FamilyGUID: "b"}, false},
		{"huge LSNs", Header{Kind: Log, LastLSN: "98765432109876543210987"}, Header{Kind: Log, FirstLSN: "98765432109876543210987", LastLSN: "98765432109876543210999"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := Continues(tt.prev, tt.next)
			if got != tt.want {
				t.Errorf("Continues = %v (%s), want %v", got, why, tt.want)
			}
			if !got && why == "" {
				t.Error("a broken link must say why")
			}
		})
	}
}
