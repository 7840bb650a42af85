package artifact

import (
	"math/big"
	"strings"
	"testing"
)

// decimal is the independent reading of an LSN: math/big on the trimmed
// text, which must be ASCII digits only (big.Int alone would also take a
// sign). ok is false when ParseLSN must refuse s.
func decimal(s string) (*big.Int, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return nil, false
		}
	}
	n, ok := new(big.Int).SetString(s, 10)
	return n, ok
}

// cmpBig orders LSNs as numbers, the unset LSN ("") before every other.
func cmpBig(a, b LSN) int {
	switch {
	case a.IsZero() && b.IsZero():
		return 0
	case a.IsZero():
		return -1
	case b.IsZero():
		return 1
	}
	x, _ := new(big.Int).SetString(string(a), 10)
	y, _ := new(big.Int).SetString(string(b), 10)
	return x.Cmp(y)
}

// FuzzLSN: ParseLSN accepts exactly the (space-trimmed) decimal numbers of
// any length and returns their canonical digits; Cmp, on parsed LSNs and
// on digit strings with leading zeros alike, is the order of math/big, so
// it is a consistent total order (reflexive, antisymmetric, transitive)
// with the unset LSN first.
func FuzzLSN(f *testing.F) {
	for _, s := range [][3]string{
		{"1", "2", "3"}, {"0", "00", ""}, {"0009", "9", "10"}, {" 42 ", "\t42\n", "042"},
		{"99999999999999999999999", "9223372036854775807", "18446744073709551616"},
		{"123456789012345678901234", "123456789012345678901235", "98765432109876543210987"},
		{"-1", "+1", "1.5"}, {"1_000", "0x10", "1e9"}, {"٣", "１", "\u00a07\u00a0"}, {"\x00", "\xff", "12a"},
		{strings.Repeat("9", 100), "1" + strings.Repeat("0", 100), strings.Repeat("0", 99) + "1"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		var parsed []LSN
		for _, s := range []string{a, b, c} {
			l, err := ParseLSN(s)
			n, want := decimal(s)
			if (err == nil) != want {
				t.Fatalf("ParseLSN(%q) = %q, %v; want ok=%v", s, l, err, want)
			}
			if err != nil {
				continue
			}
			if l.String() != n.String() {
				t.Fatalf("ParseLSN(%q) = %q, want the canonical %q", s, l, n.String())
			}
			if again, err := ParseLSN(string(l)); err != nil || again != l {
				t.Fatalf("ParseLSN(ParseLSN(%q)) = %q, %v", s, again, err)
			}
			parsed = append(parsed, l)
			// Raw digits (leading zeros, no trimming) compare the same.
			if raw := strings.TrimSpace(s); raw != string(l) {
				parsed = append(parsed, LSN(raw))
			}
		}
		parsed = append(parsed, "")
		for _, x := range parsed {
			if x.Cmp(x) != 0 {
				t.Fatalf("%q.Cmp(itself) = %d", x, x.Cmp(x))
			}
			for _, y := range parsed {
				got, want := x.Cmp(y), cmpBig(x, y)
				if got != want {
					t.Fatalf("%q.Cmp(%q) = %d, math/big says %d", x, y, got, want)
				}
				if y.Cmp(x) != -got {
					t.Fatalf("%q.Cmp(%q) = %d but %q.Cmp(%q) = %d", x, y, got, y, x, y.Cmp(x))
				}
				for _, z := range parsed {
					if got <= 0 && y.Cmp(z) <= 0 && x.Cmp(z) > 0 {
						t.Fatalf("not transitive: %q <= %q <= %q but %q > %q", x, y, z, x, z)
					}
				}
			}
		}
	})
}
