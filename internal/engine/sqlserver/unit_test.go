package sqlserver

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

func TestQuoteIdent(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"plain", "Sales", "[Sales]"},
		{"closing bracket doubled", "Sales]; DROP DATABASE x; --", "[Sales]]; DROP DATABASE x; --]"},
		{"opening bracket kept", "a[b", "[a[b]"},
		{"quote kept", "O'Brien", "[O'Brien]"},
		{"unicode", "Zürich 日本", "[Zürich 日本]"},
		{"newline", "two\nlines", "[two\nlines]"},
		{"only brackets", "]]", "[]]]]]"},
		{"empty", "", "[]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := quoteIdent(c.in); got != c.want {
				t.Errorf("quoteIdent(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestQuoteString(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"plain", `/var/opt/mssql/backup/Sales.bak`, `N'/var/opt/mssql/backup/Sales.bak'`},
		{"quote doubled", "O'Brien", "N'O''Brien'"},
		{"injection stays text", "x'; DROP DATABASE x; --", "N'x''; DROP DATABASE x; --'"},
		{"bracket kept", "Sales]; DROP DATABASE x; --", "N'Sales]; DROP DATABASE x; --'"},
		{"windows path", `\\fs01\drs\sales\a.bak`, `N'\\fs01\drs\sales\a.bak'`},
		{"unicode", "Zürich 日本", "N'Zürich 日本'"},
		{"newline", "a\nb", "N'a\nb'"},
		{"only quotes", "''", "N''''''"},
		{"empty", "", "N''"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := quoteString(c.in); got != c.want {
				t.Errorf("quoteString(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestStatements(t *testing.T) {
	for _, c := range []struct {
		name string
		got  string
		want string
	}{
		{"full backup to disk",
			backupStatement(engine.BackupRequest{Database: "Sales", Kind: artifact.Full, ServerPath: "/b/S.bak", Compression: true}, deviceOf("/b/S.bak")),
			"BACKUP DATABASE [Sales] TO DISK = N'/b/S.bak' WITH CHECKSUM, COMPRESSION, FORMAT, INIT, STATS = 10"},
		{"tail-log backup",
			backupStatement(engine.BackupRequest{Database: "O'Brien", Kind: artifact.Log, ServerPath: `D:\b\O'Brien.trn`, NoRecovery: true}, deviceOf(`D:\b\O'Brien.trn`)),
			`BACKUP LOG [O'Brien] TO DISK = N'D:\b\O''Brien.trn' WITH CHECKSUM, FORMAT, INIT, NORECOVERY, STATS = 10`},
		{"copy-only",
			backupStatement(engine.BackupRequest{Database: "a]b", Kind: artifact.Full, ServerPath: "/b/x.bak", CopyOnly: true}, deviceOf("/b/x.bak")),
			"BACKUP DATABASE [a]]b] TO DISK = N'/b/x.bak' WITH CHECKSUM, FORMAT, INIT, COPY_ONLY, STATS = 10"},
		{"azure url with a SAS credential named after the container",
			backupStatement(engine.BackupRequest{Database: "Sales", Kind: artifact.Log, ServerPath: "https://acct.blob.core.windows.net/drs/sales/1.trn",
				Credential: "https://acct.blob.core.windows.net/drs"}, deviceOf("https://acct.blob.core.windows.net/drs/sales/1.trn")),
			"BACKUP LOG [Sales] TO URL = N'https://acct.blob.core.windows.net/drs/sales/1.trn' WITH CHECKSUM, FORMAT, MAXTRANSFERSIZE = 4194304, BLOCKSIZE = 65536, STATS = 10"},
		{"azure url with a named credential",
			backupStatement(engine.BackupRequest{Database: "Sales", Kind: artifact.Full, ServerPath: "https://acct.blob.core.windows.net/drs/1.bak",
				Credential: "drs'key"}, deviceOf("https://acct.blob.core.windows.net/drs/1.bak")),
			"BACKUP DATABASE [Sales] TO URL = N'https://acct.blob.core.windows.net/drs/1.bak' WITH CHECKSUM, FORMAT, CREDENTIAL = N'drs''key', STATS = 10"},
		{"s3: FORMAT without INIT, region from the endpoint",
			backupStatement(engine.BackupRequest{Database: "Sales", Kind: artifact.Full, ServerPath: "s3://s3.us-east-1.amazonaws.com/drs-east/sales/1.bak", Compression: true,
				Credential: "s3://s3.us-east-1.amazonaws.com/drs-east"}, deviceOf("s3://s3.us-east-1.amazonaws.com/drs-east/sales/1.bak")),
			`BACKUP DATABASE [Sales] TO URL = N's3://s3.us-east-1.amazonaws.com/drs-east/sales/1.bak' WITH CHECKSUM, COMPRESSION, FORMAT, BACKUP_OPTIONS = N'{"s3": {"region": "us-east-1"}}', STATS = 10`},
		{"s3 HEADERONLY with the region",
			infoStatement("HEADERONLY", deviceOf("s3://s3.eu-west-3.amazonaws.com/drs/1.bak"), ""),
			`RESTORE HEADERONLY FROM URL = N's3://s3.eu-west-3.amazonaws.com/drs/1.bak' WITH RESTORE_OPTIONS = N'{"s3": {"region": "eu-west-3"}}'`},
		{"s3 FILELISTONLY with the region",
			infoStatement("FILELISTONLY", deviceOf("s3://drs.s3.us-west-2.amazonaws.com/1.bak"), "s3://drs.s3.us-west-2.amazonaws.com"),
			`RESTORE FILELISTONLY FROM URL = N's3://drs.s3.us-west-2.amazonaws.com/1.bak' WITH RESTORE_OPTIONS = N'{"s3": {"region": "us-west-2"}}'`},
		{"azure HEADERONLY: the SAS credential is found by name, never passed",
			infoStatement("HEADERONLY", deviceOf("https://acct.blob.core.windows.net/drs/1.bak"), "https://acct.blob.core.windows.net/drs"),
			`RESTORE HEADERONLY FROM URL = N'https://acct.blob.core.windows.net/drs/1.bak'`},
		{"restore full standby with move and replace",
			restoreStatement(engine.RestoreRequest{Database: "Sales]; DROP DATABASE x; --", Kind: artifact.Full, ServerPath: "/b/S.bak", Mode: engine.StandbyMode,
				UndoFile: "/u/O'Brien.tuf", Replace: true}, deviceOf("/b/S.bak"), []move{{"Sales", "/d/S_Sales.mdf"}, {"Sales_log", "/l/S_Sales_log.ldf"}}),
			"RESTORE DATABASE [Sales]]; DROP DATABASE x; --] FROM DISK = N'/b/S.bak' WITH STANDBY = N'/u/O''Brien.tuf', MOVE N'Sales' TO N'/d/S_Sales.mdf', MOVE N'Sales_log' TO N'/l/S_Sales_log.ldf', REPLACE, STATS = 10"},
		{"restore log norecovery (no REPLACE for a log)",
			restoreStatement(engine.RestoreRequest{Database: "Sales", Kind: artifact.Log, ServerPath: "s3://minio.local:9000/drs/1.trn", Mode: engine.NoRecovery, Replace: true}, deviceOf("s3://minio.local:9000/drs/1.trn"), nil),
			"RESTORE LOG [Sales] FROM URL = N's3://minio.local:9000/drs/1.trn' WITH NORECOVERY, STATS = 10"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("statement\n got: %s\nwant: %s", c.got, c.want)
			}
		})
	}
}

func TestS3Region(t *testing.T) {
	for in, want := range map[string]string{
		"s3://s3.us-east-1.amazonaws.com/b/k":                "us-east-1",
		"s3://bucket.s3.eu-west-3.amazonaws.com/k":           "eu-west-3",
		"s3://s3-us-west-2.amazonaws.com/b/k":                "us-west-2",
		"s3://s3.dualstack.ap-southeast-1.amazonaws.com/b/k": "ap-southeast-1",
		"s3://s3.us-gov-west-1.amazonaws.com/b/k":            "us-gov-west-1",
		"s3://s3.amazonaws.com/b/k":                          "",
		"s3://minio.local:9000/b/k":                          "",
		"s3://s3.us-east-1.amazonaws.com.evil.example/b/k":   "",
		"s3://s3.x\"}, \"y\": {\"z.amazonaws.com/b/k":        "",
		"https://acct.blob.core.windows.net/container/a.bak": "",
	} {
		if got := s3Region(in); got != want {
			t.Errorf("s3Region(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMovedName(t *testing.T) {
	for _, c := range []struct {
		name, db string
		f        backupFile
		want     string
	}{
		{"data keeps its extension", "Sales", backupFile{logical: "Sales", physical: `D:\Data\Sales.mdf`, typ: "D", fileID: 1}, "Sales_Sales.mdf"},
		{"log from a linux path", "Sales", backupFile{logical: "Sales_log", physical: "/var/opt/mssql/data/Sales_log.ldf", typ: "L", fileID: 2}, "Sales_Sales_log.ldf"},
		{"secondary data without extension", "Sales", backupFile{logical: "extra", physical: "/d/extra", typ: "D", fileID: 3}, "Sales_extra.ndf"},
		{"primary data without extension", "Sales", backupFile{logical: "Sales", physical: "/d/Sales", typ: "D", fileID: 1}, "Sales_Sales.mdf"},
		{"log without extension", "Sales", backupFile{logical: "L", physical: "/d/L", typ: "L", fileID: 2}, "Sales_L.ldf"},
		{"forbidden characters", `a/b\c:d*e?"f<g>h|i`, backupFile{logical: "x\ny", physical: "/d/x.mdf", typ: "D", fileID: 1}, "a_b_c_d_e__f_g_h_i_x_y_" + movedHash(`a/b\c:d*e?"f<g>h|i`, "x\ny") + ".mdf"},
		{"injection-looking name is only a file name", "Sales]; DROP DATABASE x; --", backupFile{logical: "Sales", physical: "/d/Sales.mdf", typ: "D", fileID: 1}, "Sales]; DROP DATABASE x; --_Sales.mdf"},
		{"quote and unicode", "O'Brien Zürich", backupFile{logical: "日本", physical: "/d/a.ndf", typ: "D", fileID: 3}, "O'Brien Zürich_日本.ndf"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := movedName(c.db, c.f); got != c.want {
				t.Errorf("movedName = %q, want %q", got, c.want)
			}
		})
	}
	// Names that read the same once sanitized stay apart: one data
	// directory holds every standby database's files.
	seen := map[string]string{}
	for _, db := range []string{"a/b", `a\b`, "a_b", "a:b", "a.", "a", "a ", "a..", "a?"} {
		got := movedName(db, backupFile{logical: "data", physical: "/d/data.mdf", typ: "D", fileID: 1})
		if other, ok := seen[got]; ok {
			t.Errorf("databases %q and %q both restore onto %q", other, db, got)
		}
		seen[got] = db
	}
	long := strings.Repeat("n", 128)
	a := movedName(long, backupFile{logical: "a", physical: "/d/a.mdf", typ: "D"})
	b := movedName(long, backupFile{logical: "b", physical: "/d/b.mdf", typ: "D"})
	if a == b || len(a) > 110 || !strings.HasSuffix(a, ".mdf") {
		t.Errorf("long names %q and %q: want distinct, short, with the extension", a, b)
	}
}

func movedHash(database, logical string) string {
	sum := sha256.Sum256([]byte(database + "\x00" + logical))
	return hex.EncodeToString(sum[:4])
}

func TestPlanMoves(t *testing.T) {
	files := []backupFile{
		{logical: "Sales", physical: `C:\x\Sales.mdf`, typ: "D", fileID: 1},
		{logical: "Sales_log", physical: `C:\x\Sales_log.ldf`, typ: "L", fileID: 2},
	}
	for _, c := range []struct {
		name, data, log string
		want            []move
	}{
		{"windows dirs", `D:\Data`, `L:\Log\`, []move{{"Sales", `D:\Data\S_Sales.mdf`}, {"Sales_log", `L:\Log\S_Sales_log.ldf`}}},
		{"linux dirs", "/data/", "/log", []move{{"Sales", "/data/S_Sales.mdf"}, {"Sales_log", "/log/S_Sales_log.ldf"}}},
		{"unc dir", `\\fs\data`, "", []move{{"Sales", `\\fs\data\S_Sales.mdf`}, {"Sales_log", `\\fs\data\S_Sales_log.ldf`}}},
		{"log dir only", "", "/log", []move{{"Sales_log", "/log/S_Sales_log.ldf"}}},
		{"drive root", `E:`, "", []move{{"Sales", `E:\S_Sales.mdf`}, {"Sales_log", `E:\S_Sales_log.ldf`}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := planMoves("S", files, c.data, c.log)
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("planMoves = %v, want %v", got, c.want)
			}
		})
	}
}

func TestServerErrorKeepsTheCause(t *testing.T) {
	all := []mssql.Error{
		{Number: 4305, Class: 16, Message: "The log in this backup set begins at LSN 7, which is too recent to apply to the database."},
		{Number: 3013, Class: 16, Message: "RESTORE LOG is terminating abnormally."},
	}
	last := all[1]
	last.All = all
	e := newServerError("restore log [Sales] from /x/y.trn", all)
	want := "restore log [Sales] from /x/y.trn: SQL Server error 4305: The log in this backup set begins at LSN 7, which is too recent to apply to the database."
	if e.Error() != want {
		t.Errorf("error\n got: %s\nwant: %s", e.Error(), want)
	}
	if !errors.Is(e, engine.ErrChain) || errors.Is(e, engine.ErrInUse) {
		t.Errorf("4305 must wrap ErrChain only")
	}
	var me mssql.Error
	if !errors.As(e, &me) || me.Number != 3013 || len(me.All) != 2 {
		t.Errorf("the driver's error is not kept: %#v", me)
	}
	inUse := newServerError("restore", []mssql.Error{{Number: 3101, Message: "Exclusive access could not be obtained because the database is in use."}, {Number: 3013}})
	if !errors.Is(inUse, engine.ErrInUse) || errors.Is(inUse, engine.ErrChain) {
		t.Errorf("3101 must wrap ErrInUse only")
	}
	only := newServerError("backup", []mssql.Error{{Number: 3013, Message: "BACKUP DATABASE is terminating abnormally."}})
	if !strings.Contains(only.Error(), "3013") {
		t.Errorf("a lone 3013 must still be shown: %s", only)
	}
}

func TestPercentOf(t *testing.T) {
	for in, want := range map[string]int{"10 percent processed.": 10, "100 percent processed.": 100, "": -1, "many percent": -1, "101 percent": -1} {
		if got := percentOf(in); got != want {
			t.Errorf("percentOf(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestRedactSecrets(t *testing.T) {
	for _, c := range []struct{ name, dsn, secret string }{
		{"url", "sqlserver://sa:Hunter2-Url@db.example:1433?database=x", "Hunter2-Url"},
		{"url escaped", "sqlserver://sa:Hunter%40Esc@db.example:1433", "Hunter@Esc"},
		{"url that does not parse", "sqlserver://sa:Hunter%zzBad@db.example:1433", "Hunter%zzBad"},
		{"ado", "server=db.example;user id=sa;password=Hunter2-Ado;encrypt=disable", "Hunter2-Ado"},
		{"ado pwd braced", "server=db.example;uid=sa;PWD={Hunter2-Braced};", "Hunter2-Braced"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := redact("failed: "+c.secret+" in "+c.dsn, secretsOf(c.dsn))
			if strings.Contains(got, c.secret) || strings.Contains(got, c.dsn) {
				t.Errorf("redacted message still holds the secret: %s", got)
			}
		})
	}
}
