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
