package blob

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
)

var hostileNames = []string{
	"Sales",
	"Sales]; DROP DATABASE x; --",
	"O'Brien",
	"Ümlaut データ",
	"../x",
	"..",
	".",
	`a\b/c`,
	"x~41",
	"with space",
	"Sales_full",
	"CON",
	"",
}

func TestEscapeName(t *testing.T) {
	for _, name := range hostileNames {
		seg := EscapeName(name)
		for i := 0; i < len(seg); i++ {
			if !isPlain(seg[i]) && seg[i] != '~' {
				t.Errorf("EscapeName(%q) = %q: unsafe byte %q", name, seg, seg[i])
			}
		}
		back, err := UnescapeName(seg)
		if err != nil || back != name {
			t.Errorf("UnescapeName(EscapeName(%q)) = %q, %v", name, back, err)
		}
	}
	if got, want := EscapeName("con"), "~63on"; got != want {
		t.Errorf("EscapeName(con) = %q, want %q", got, want)
	}
	if got, want := EscapeName("O'Brien"), "O~27Brien"; got != want {
		t.Errorf("EscapeName(O'Brien) = %q, want %q", got, want)
	}
	for _, bad := range []string{"~", "~4", "~4g", "~4a", "a b", "a/b"} {
		if _, err := UnescapeName(bad); err == nil {
			t.Errorf("UnescapeName(%q) succeeded", bad)
		}
	}
}

func TestArtifactFile(t *testing.T) {
	at := time.Date(2026, 11, 25, 4, 55, 0, 0, time.UTC)
	tests := []struct {
		db   string
		kind artifact.Kind
		t    time.Time
		want string
	}{
		{"Sales", artifact.Full, at, "Sales_full_20261125T045500Z.bak"},
		{"Sales", artifact.Log, at.Add(5 * time.Minute), "Sales_log_20261125T050000Z.trn"},
		{"Sales", artifact.Log, at.In(time.FixedZone("EST", -5*3600)), "Sales_log_20261125T045500Z.trn"},
		{"O'Brien", artifact.Full, at, "O~27Brien_full_20261125T045500Z.bak"},
		{"../x", artifact.Log, at, "~2E~2E~2Fx_log_20261125T045500Z.trn"},
	}
	for _, tc := range tests {
		if got := ArtifactFile(tc.db, tc.kind, tc.t); got != tc.want {
			t.Errorf("ArtifactFile(%q, %s, %v) = %q, want %q", tc.db, tc.kind, tc.t, got, tc.want)
		}
	}
	// Every name round-trips and stays one segment.
	for _, name := range hostileNames[:len(hostileNames)-1] {
		for _, kind := range []artifact.Kind{artifact.Full, artifact.Log} {
			f := ArtifactFile(name, kind, at)
			if strings.ContainsAny(f, `/\ '";`) || strings.HasPrefix(f, ".") {
				t.Errorf("ArtifactFile(%q) = %q: not a safe segment", name, f)
			}
			db, k, ts, ok := ParseArtifactFile(f)
			if !ok || db != name || k != kind || !ts.Equal(at) {
				t.Errorf("ParseArtifactFile(%q) = %q, %q, %v, %v", f, db, k, ts, ok)
			}
		}
	}
	// Sorted by time within a database and kind.
	var files []string
	for i := 5; i >= 0; i-- {
		files = append(files, ArtifactFile("Sales", artifact.Log, at.Add(time.Duration(i)*7*time.Hour)))
	}
	sorted := append([]string(nil), files...)
	sort.Strings(sorted)
	for i := range sorted {
		if sorted[i] != files[len(files)-1-i] {
			t.Fatalf("file names do not sort by time: %q", sorted)
		}
	}
	for _, foreign := range []string{"backup.bak", "Sales_full_2026.bak", "Sales_log_20261125T045500Z.bak", "Sales_diff_20261125T045500Z.bak", "Sa les_full_20261125T045500Z.bak"} {
		if _, _, _, ok := ParseArtifactFile(foreign); ok {
			t.Errorf("ParseArtifactFile(%q) accepted a foreign name", foreign)
		}
	}
}

func TestArtifactKey(t *testing.T) {
	at := time.Date(2026, 11, 25, 5, 0, 0, 0, time.UTC)
	f := ArtifactFile("Sales", artifact.Log, at)
	if got, want := ArtifactKey("sales", "Sales", artifact.Log, f), "sales/Sales/log/Sales_log_20261125T050000Z.trn"; got != want {
		t.Errorf("ArtifactKey = %q, want %q", got, want)
	}
	hostile := "Sales]; DROP DATABASE x; --"
	key := ArtifactKey("../prim", hostile, artifact.Full, ArtifactFile(hostile, artifact.Full, at))
	segs := strings.Split(key, "/")
	if len(segs) != 4 {
		t.Fatalf("ArtifactKey with hostile names = %q: %d segments", key, len(segs))
	}
	for _, s := range segs {
		if s == "" || s == "." || s == ".." || strings.HasPrefix(s, ".") {
			t.Errorf("ArtifactKey = %q: bad segment %q", key, s)
		}
	}
	if !strings.HasPrefix(key, DatabasePrefix("../prim", hostile)) {
		t.Errorf("ArtifactKey %q is not under DatabasePrefix %q", key, DatabasePrefix("../prim", hostile))
	}
	if got := ArtifactKey("p", "d", artifact.Full, "../../etc/passwd"); strings.Contains(got, "/../") || strings.Count(got, "/") != 3 {
		t.Errorf("ArtifactKey kept a hostile file name: %q", got)
	}
}

func TestServerPath(t *testing.T) {
	key := "sales/Sales/log/Sales_log_20261125T050000Z.trn"
	tests := []struct{ base, want string }{
		{`\\fs01\drs\sales`, `\\fs01\drs\sales\sales\Sales\log\Sales_log_20261125T050000Z.trn`},
		{`\\fs01\drs\sales\`, `\\fs01\drs\sales\sales\Sales\log\Sales_log_20261125T050000Z.trn`},
		{`D:\Backup`, `D:\Backup\sales\Sales\log\Sales_log_20261125T050000Z.trn`},
		{`D:\`, `D:\sales\Sales\log\Sales_log_20261125T050000Z.trn`},
		{`D:`, `D:\sales\Sales\log\Sales_log_20261125T050000Z.trn`},
		{`d:/backup/`, `d:\backup\sales\Sales\log\Sales_log_20261125T050000Z.trn`},
		{"/var/opt/mssql/backup", "/var/opt/mssql/backup/" + key},
		{"/var/opt/mssql/backup/", "/var/opt/mssql/backup/" + key},
		{"/", "/" + key},
		{"https://acct.blob.core.windows.net/drs/sales", "https://acct.blob.core.windows.net/drs/sales/" + key},
		{"s3://s3.us-east-1.amazonaws.com/drs-east/sales/", "s3://s3.us-east-1.amazonaws.com/drs-east/sales/" + key},
		{"", key},
	}
	for _, tc := range tests {
		if got := ServerPath(tc.base, key); got != tc.want {
			t.Errorf("ServerPath(%q) = %q, want %q", tc.base, got, tc.want)
		}
	}
}

func TestStandbyUndoFile(t *testing.T) {
	tests := []struct{ dir, db, want string }{
		{`D:\Data`, "Sales", `D:\Data\Sales_standby.tuf`},
		{`D:\Data\`, "O'Brien", `D:\Data\O~27Brien_standby.tuf`},
		{"/var/opt/mssql/data", "Sales", "/var/opt/mssql/data/Sales_standby.tuf"},
		{`\\fs01\undo`, "../x", `\\fs01\undo\~2E~2E~2Fx_standby.tuf`},
	}
	for _, tc := range tests {
		if got := StandbyUndoFile(tc.dir, tc.db); got != tc.want {
			t.Errorf("StandbyUndoFile(%q, %q) = %q, want %q", tc.dir, tc.db, got, tc.want)
		}
	}
}

// Long names: a database name may be 128 UTF-16 units, and each unit of a
// CJK name escapes to nine bytes, far more than a file system allows in one
// name. Such names are shortened with their SHA-256; shorter ones are
// spelled out exactly as before (keys already in ledgers do not move).
func TestEscapeName_Long(t *testing.T) {
	at := time.Date(2026, 11, 25, 4, 55, 0, 0, time.UTC)
	cjk := strings.Repeat("日本語", 42) + "Ab" // 128 UTF-16 units
	short := "日本語日本語日"                      // 63 bytes escaped: spelled out
	// The longest name still spelled out, and one byte more.
	edge := strings.Repeat("a", MaxSegment)
	over := strings.Repeat("a", MaxSegment+1)
	punct := strings.Repeat("]", 128)
	for _, name := range []string{cjk, cjk[:len(cjk)-1] + "c", edge, over, punct, strings.Repeat("💾", 64), short} {
		seg := EscapeName(name)
		if len(seg) > MaxSegment {
			t.Errorf("EscapeName(%.20q…) is %d bytes, over %d", name, len(seg), MaxSegment)
		}
		for _, kind := range []artifact.Kind{artifact.Full, artifact.Log} {
			if f := ArtifactFile(name, kind, at); len(f) > 90 {
				t.Errorf("ArtifactFile(%.20q…) is %d bytes, over 90", name, len(f))
			}
			// With a primary named as long: what SQL Server's 259
			// characters must hold besides the server_path.
			if k := ArtifactKey(name, name, kind, ArtifactFile(name, kind, at)); len(k) > 3*MaxSegment+len("//full/_full_20060102T150405Z.bak") {
				t.Errorf("ArtifactKey(%.20q…) is %d bytes", name, len(k))
			}
		}
		if f := StandbyUndoFile("/d", name); len(f)-len("/d/") > 255 {
			t.Errorf("StandbyUndoFile(%.20q…) is too long: %d", name, len(f))
		}
		long := len(name)*3 > MaxSegment || len(name) > MaxSegment
		if name == edge || name == short {
			long = false
		}
		if IsShortened(seg) != long {
			t.Errorf("EscapeName(%.20q…) = %.40q…: shortened %v, want %v", name, seg, IsShortened(seg), long)
		}
		if back, err := UnescapeName(seg); long && err == nil || !long && back != name {
			t.Errorf("UnescapeName(EscapeName(%.20q…)) = %.20q, %v", name, back, err)
		}
		if _, _, _, ok := ParseArtifactFile(ArtifactFile(name, artifact.Full, at)); ok == long {
			t.Errorf("ParseArtifactFile of %.20q… ok = %v", name, ok)
		}
	}
	if EscapeName(cjk) == EscapeName(cjk[:len(cjk)-1]+"c") {
		t.Error("two long names that differ in their last letter share a segment")
	}
	if got := EscapeName(edge); got != edge {
		t.Errorf("a %d-byte plain name must be spelled out, got %q", MaxSegment, got)
	}
	// A shortened segment still ends on a whole escape before its mark.
	seg := EscapeName(cjk)
	start := seg[:strings.Index(seg, hashedMark)]
	if _, err := UnescapeName(start); err != nil {
		t.Errorf("the readable start %q of a shortened segment does not decode: %v", start, err)
	}
}

// FuzzArtifactKey: for any two names, the key layout is injective (two
// different database or primary names never share a key, a prefix or a file
// name, even ignoring letter case where the names differ by more than case)
// and stays under its prefix: every key is one primary segment, one database
// segment, the kind and one file name, each safe on every storage.
func FuzzArtifactKey(f *testing.F) {
	seeds := append([]string(nil), hostileNames...)
	seeds = append(seeds, "a..b", "a/b", "a_b", `a\b`, "~", "~~", "~7E", "Ünïcødé", "日本", "Sales 💾", "tab\there",
		"\x00", "\xff", strings.Repeat("日本", 64), strings.Repeat("日本", 63)+"日x", strings.Repeat("a", MaxSegment+1), "COM1", "com1", "nul")
	for i, a := range seeds {
		f.Add("sales", a, seeds[(i+1)%len(seeds)])
	}
	at := time.Date(2026, 11, 25, 4, 55, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, primary, a, b string) {
		if primary == "" || a == "" || b == "" {
			return // the configuration refuses empty names
		}
		kinds := []artifact.Kind{artifact.Full, artifact.Log}
		for _, name := range []string{a, b} {
			prefix := DatabasePrefix(primary, name)
			for _, kind := range kinds {
				file := ArtifactFile(name, kind, at)
				key := ArtifactKey(primary, name, kind, file)
				if !strings.HasPrefix(key, prefix) {
					t.Fatalf("key %q is not under its prefix %q", key, prefix)
				}
				segs := strings.Split(key, "/")
				if len(segs) != 4 || segs[3] != file {
					t.Fatalf("key %q: want primary/database/kind/%s", key, file)
				}
				for _, s := range segs {
					if s == "" || s[0] == '.' || len(s) > 255 {
						t.Fatalf("key %q: bad segment %q", key, s)
					}
					for i := 0; i < len(s); i++ {
						if c := s[i]; !isPlain(c) && c != '~' && c != '.' {
							t.Fatalf("key %q: byte %q in segment %q", key, c, s)
						}
					}
				}
			}
		}
		if a == b {
			return
		}
		ea, eb := EscapeName(a), EscapeName(b)
		if ea == eb {
			t.Fatalf("EscapeName(%q) = EscapeName(%q) = %q", a, b, ea)
		}
		if strings.EqualFold(ea, eb) && !strings.EqualFold(a, b) {
			// Storage that ignores case would mix them up, and the
			// configuration's case check would not catch it.
			t.Fatalf("EscapeName(%q) = %q and EscapeName(%q) = %q differ only in case", a, ea, b, eb)
		}
		pa, pb := DatabasePrefix(primary, a), DatabasePrefix(primary, b)
		if strings.HasPrefix(pa, pb) || strings.HasPrefix(pb, pa) {
			t.Fatalf("prefixes %q and %q nest", pa, pb)
		}
		if DatabasePrefix(a, "d") == DatabasePrefix(b, "d") {
			t.Fatalf("primaries %q and %q share a prefix", a, b)
		}
		for _, kind := range kinds {
			if ArtifactFile(a, kind, at) == ArtifactFile(b, kind, at) {
				t.Fatalf("ArtifactFile(%q) = ArtifactFile(%q)", a, b)
			}
		}
		if StandbyUndoFile("/d", a) == StandbyUndoFile("/d", b) {
			t.Fatalf("StandbyUndoFile(%q) = StandbyUndoFile(%q)", a, b)
		}
	})
}
