package sqlsim

import (
	"strings"
	"testing"
)

// FuzzParseQuoted: the simulator's lexer and parser read a name quoted the
// engine's way ([…] with ] doubled, N'…' with ' doubled) back as exactly
// that name, in one statement: what the engine's tests send through the
// simulator means what it would mean to SQL Server. (The engine's own
// quoting is fuzzed against an independent tokenizer by FuzzQuote in
// package sqlserver.) Identifiers over 128 UTF-16 code units are refused
// with error 103, as SQL Server does.
func FuzzParseQuoted(f *testing.F) {
	for _, s := range []string{"Sales", "]", "]]", "'", "O'Brien", "Sales]; DROP DATABASE x; --", `a"b`, "--", "/*", "..", `\`,
		"a\x00b", "two\nlines", "Zürich 日本", "Sales 💾", "\xed\xa0\x80", strings.Repeat("💾", 64), strings.Repeat("💾", 65)} {
		f.Add(s, "/var/opt/mssql/backup/"+s+".bak")
	}
	f.Fuzz(func(t *testing.T, name, path string) {
		wantName, wantPath := string([]rune(name)), string([]rune(path)) // as UTF-16 carries them
		for _, src := range []string{
			"BACKUP DATABASE " + quoteIdent(name) + " TO DISK = " + quoteString(path) + " WITH CHECKSUM, INIT, STATS = 10",
			"RESTORE DATABASE " + quoteIdent(name) + " FROM DISK = " + quoteString(path) + " WITH STANDBY = " + quoteString(path) +
				", MOVE " + quoteString(name) + " TO " + quoteString(path) + ", REPLACE, STATS = 10",
		} {
			stmts, err := parseBatch(src)
			if utf16Len(wantName) > 128 {
				if err == nil || err.msgs[0].Number != 103 {
					t.Fatalf("an identifier of %d UTF-16 units: %v, want error 103\n%q", utf16Len(wantName), err, src)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%v\n%q", err, src)
			}
			if len(stmts) != 1 {
				t.Fatalf("%d statements, want 1\n%q", len(stmts), src)
			}
			var db nameArg
			var dev *device
			var opts []option
			switch s := stmts[0].(type) {
			case *backupStmt:
				db, dev, opts = s.db, &s.device, s.opts
			case *restoreStmt:
				db, dev, opts = s.db, s.device, s.opts
			default:
				t.Fatalf("parsed as %T\n%q", s, src)
			}
			if db.ident != wantName || db.param != "" {
				t.Fatalf("database %+v, want %q\n%q", db, wantName, src)
			}
			if dev == nil || !isLiteral(dev.path, wantPath) {
				t.Fatalf("device %+v, want the path %q\n%q", dev, wantPath, src)
			}
			for _, o := range opts {
				switch o.name {
				case "STANDBY":
					if !isLiteral(o.val, wantPath) {
						t.Fatalf("STANDBY = %+v, want %q", o.val, wantPath)
					}
				case "MOVE":
					if !isLiteral(o.val, wantName) || !isLiteral(o.to, wantPath) {
						t.Fatalf("MOVE %+v TO %+v, want %q TO %q", o.val, o.to, wantName, wantPath)
					}
				case "CHECKSUM", "INIT", "STATS", "REPLACE":
				default:
					t.Fatalf("unexpected option %q: something left its quotes\n%q", o.name, src)
				}
			}
		}
	})
}

// isLiteral reports whether e is the string literal s.
func isLiteral(e expr, s string) bool {
	l, ok := e.(*litExpr)
	if !ok {
		return false
	}
	v, ok := l.v.v.(string)
	return ok && v == s
}
