package sqlsim

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
)

// nvarchar lengths are UTF-16 code units, not characters: a character
// outside the Basic Multilingual Plane (an emoji, many CJK extension
// ideographs) takes two. A simulator that measures runes declares columns
// too narrow for their values and refuses or truncates at the wrong place.

func TestUTF16Units(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want int
	}{
		{"", 0},
		{"Sales", 5},
		{"Ventes_été", 10},
		{"💾", 2},
		{"a💾b", 4},
		{"𠀋𠀋", 4},
	} {
		if got := utf16Len(tt.s); got != tt.want {
			t.Errorf("utf16Len(%q) = %d, want %d", tt.s, got, tt.want)
		}
		if v := strVal(tt.s); v.t.size != max(tt.want, 1) {
			t.Errorf("strVal(%q) is nvarchar(%d), want nvarchar(%d)", tt.s, v.t.size, max(tt.want, 1))
		}
	}
}

// TestEmojiDatabaseEndToEnd: a database whose name is outside the BMP is
// created, written to, backed up, described (HEADERONLY, FILELISTONLY),
// restored under another such name and found in the catalog and in msdb,
// all through go-mssqldb.
func TestEmojiDatabaseEndToEnd(t *testing.T) {
	srv := startSim(t, Options{})
	db := conn(t, openDB(t, srv, ""))
	ctx := context.Background()
	name := "Sales 💾 𠀋"
	copyName := "Copy 🚀"
	note := "note with 🎉 and 𝄞"
	q := quoteIdent(name)

	mustExec(t, db, "CREATE DATABASE "+q)
	// A literal and a parameter outside the BMP read back whole.
	if got := queryString(t, db, "SELECT "+quoteString(note)).String; got != note {
		t.Fatalf("SELECT literal = %q, want %q", got, note)
	}
	if got := queryString(t, db, "SELECT @p1", note).String; got != note {
		t.Fatalf("SELECT @p1 = %q, want %q", got, note)
	}
	mustExec(t, db, "INSERT INTO "+q+".dbo.drs_probe (id, note) VALUES (1, "+quoteString(note)+")")
	if got := queryString(t, db, "SELECT note FROM "+q+".dbo.drs_probe").String; got != note {
		t.Fatalf("note = %q, want %q", got, note)
	}
	if r, ok := dbInfo(t, db, name); !ok || r.name != name {
		t.Fatalf("sys.databases for %q: %+v %v", name, r, ok)
	}
	if got := queryString(t, db, "SELECT DB_NAME(DB_ID(@p1))", name).String; got != name {
		t.Fatalf("DB_NAME = %q, want %q", got, name)
	}
	if got := queryString(t, db, "SELECT name FROM sys.master_files WHERE database_id = DB_ID(@p1) AND type = 0", name).String; got != name {
		t.Fatalf("logical file name = %q, want %q", got, name)
	}

	dir := filepath.Join(t.TempDir(), "🗄 backups")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	full := filepath.Join(dir, name+" full.bak")
	logf := filepath.Join(dir, name+" log.trn")
	mustExec(t, db, "BACKUP DATABASE "+q+" TO DISK = "+quoteString(full)+" WITH CHECKSUM, INIT, STATS = 10")
	mustExec(t, db, "INSERT INTO "+q+".dbo.drs_probe (id, note) VALUES (2, @p1)", note)
	mustExec(t, db, "BACKUP LOG "+q+" TO DISK = @p1 WITH CHECKSUM, INIT", logf)

	h := headerOf(t, db, full)
	if h.DatabaseName != name {
		t.Fatalf("HEADERONLY DatabaseName = %q, want %q", h.DatabaseName, name)
	}
	if hl := headerOf(t, db, logf); hl.DatabaseName != name || hl.FirstLSN != h.LastLSN && !lsnLess(t, hl.FirstLSN, h.LastLSN) {
		t.Fatalf("log HEADERONLY: %+v", hl)
	}
	rows, err := db.QueryContext(ctx, "RESTORE FILELISTONLY FROM DISK = @p1", full)
	if err != nil {
		t.Fatal(err)
	}
	var logical []string
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		logical = append(logical, vals[0].(string))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if len(logical) != 2 || logical[0] != name || logical[1] != name+"_log" {
		t.Fatalf("FILELISTONLY logical names %q", logical)
	}
	if bs := backups(t, db, name, h.Start.AddDate(0, 0, -1)); len(bs) != 2 || bs[0].db != name {
		t.Fatalf("msdb backupset for %q: %+v", name, bs)
	}

	// Restore under another name outside the BMP, moving its files.
	cq := quoteIdent(copyName)
	dataDir := t.TempDir()
	mustExec(t, db, "RESTORE DATABASE "+cq+" FROM DISK = "+quoteString(full)+" WITH NORECOVERY, MOVE "+
		quoteString(name)+" TO "+quoteString(filepath.Join(dataDir, copyName+".mdf"))+", MOVE "+
		quoteString(name+"_log")+" TO "+quoteString(filepath.Join(dataDir, copyName+".ldf")))
	mustExec(t, db, "RESTORE LOG "+cq+" FROM DISK = "+quoteString(logf)+" WITH STANDBY = "+quoteString(filepath.Join(dataDir, "undo 🧷.tuf")))
	if r, ok := dbInfo(t, db, copyName); !ok || !r.standby {
		t.Fatalf("restored %q: %+v %v", copyName, r, ok)
	}
	if n := queryInt(t, db, "SELECT COUNT(*) FROM "+cq+".dbo.drs_probe WHERE note = @p1", note); n != 2 {
		t.Fatalf("restored rows with the note: %d, want 2", n)
	}
	var dest string
	if err := db.QueryRowContext(ctx, msdbRestores, copyName).Scan(new(any), &dest, new(any), new(any), new(any), new(any)); err != nil {
		t.Fatalf("msdb restorehistory for %q: %v", copyName, err)
	}
	if dest != copyName {
		t.Fatalf("restorehistory destination %q, want %q", dest, copyName)
	}
	// USE reports the new database in an ENVCHANGE token (B_VARCHAR: a
	// length in UTF-16 code units). Not through the login database:
	// go-mssqldb's LOGIN7 gives that field's length in runes, so a login
	// database outside the BMP arrives cut in half at a real server too.
	if got := queryString(t, db, "USE "+cq+"; SELECT DB_NAME()").String; got != copyName {
		t.Fatalf("after USE, DB_NAME() = %q, want %q", got, copyName)
	}
	mustExec(t, db, "USE [master]")
}

// TestNVarCharLimitsCountUTF16Units: sysname and nvarchar(200) are 128 and
// 200 UTF-16 code units. 65 emoji are too long for any identifier; a
// database named without a log file spec leaves room for "_log" (61 emoji
// and a letter fill it: 123 units); 100 emoji fill drs_probe.note.
func TestNVarCharLimitsCountUTF16Units(t *testing.T) {
	srv := startSim(t, Options{})
	db := conn(t, openDB(t, srv, ""))
	emoji := func(n int) string { return strings.Repeat("💾", n) }
	longest := "a" + emoji(61)
	mustExec(t, db, "CREATE DATABASE "+quoteIdent(longest))
	if r, ok := dbInfo(t, db, longest); !ok || r.name != longest {
		t.Fatalf("123 units: %+v %v", r, ok)
	}
	bak := filepath.Join(t.TempDir(), "long.bak")
	mustExec(t, db, "BACKUP DATABASE "+quoteIdent(longest)+" TO DISK = @p1", bak)
	if h := headerOf(t, db, bak); h.DatabaseName != longest {
		t.Fatalf("HEADERONLY DatabaseName %q", h.DatabaseName)
	}
	if got := queryString(t, db, "SELECT name FROM sys.master_files WHERE database_id = DB_ID(@p1) AND type = 1", longest).String; got != longest+"_log" {
		t.Fatalf("log file logical name %q", got)
	}
	wantErr(t, sqlErr(t, db, "CREATE DATABASE "+quoteIdent(emoji(62))), 50000)
	me := sqlErr(t, db, "CREATE DATABASE "+quoteIdent(emoji(65)))
	wantErr(t, me, 103)
	wantText(t, me.Message, "The identifier that starts with '"+emoji(64)+"' is too long. Maximum length is 128.")
	// A name that ends in half a surrogate pair when cut at 128 units.
	me = sqlErr(t, db, "CREATE DATABASE "+quoteIdent("a"+emoji(64)))
	wantErr(t, me, 103)
	if got := utf16Len(strings.TrimSuffix(strings.TrimPrefix(me.Message, "The identifier that starts with '"), "' is too long. Maximum length is 128.")); got > 128 {
		t.Fatalf("message quotes %d units: %s", got, me.Message)
	}

	mustExec(t, db, "CREATE DATABASE [n]")
	mustExec(t, db, "INSERT INTO [n].dbo.drs_probe (id, note) VALUES (1, @p1)", emoji(100))
	if got := queryString(t, db, "SELECT note FROM [n].dbo.drs_probe").String; got != emoji(100) {
		t.Fatalf("note = %q", got)
	}
	me = sqlErr(t, db, "INSERT INTO [n].dbo.drs_probe (id, note) VALUES (2, @p1)", "x"+emoji(100))
	wantErr(t, me, 2628)
	if !strings.Contains(me.Message, "Truncated value: 'x"+emoji(99)+"'.") {
		t.Fatalf("truncation message: %s", me.Message)
	}
	if n := len(utf16.Encode([]rune(emoji(1)))); n != 2 {
		t.Fatalf("an emoji is %d UTF-16 units", n)
	}
}

// TestFitsColumn: a value longer than its column's declared type (which
// would break go-mssqldb: it sizes its buffers from the metadata) is the
// simulator's error, never sent.
func TestFitsColumn(t *testing.T) {
	for _, tt := range []struct {
		col  column
		v    value
		fits bool
	}{
		{col("n", tNVarChar(2), true), strVal("💾"), true},
		{col("n", tNVarChar(2), true), strVal("💾a"), false},
		{col("n", tNVarChar(2), true), strVal("ab"), true},
		{col("n", tSysname, true), strVal(strings.Repeat("💾", 64)), true},
		{col("n", tSysname, true), strVal(strings.Repeat("💾", 65)), false},
		{col("n", tNVarChar(-1), true), strVal(strings.Repeat("💾", 9000)), true},
		{col("v", sqlType{k: kVarChar, size: 2}, true), value{t: sqlType{k: kVarChar, size: 3}, v: "abc"}, false},
		{col("b", sqlType{k: kVarBinary, size: 2}, true), value{t: sqlType{k: kVarBinary, size: 2}, v: []byte{1, 2}}, true},
		{col("n", tNVarChar(1), true), null(tNVarChar(1)), true},
	} {
		err := fitsColumn(tt.col, tt.v)
		if (err == nil) != tt.fits {
			t.Errorf("fitsColumn(%s %v, %q) = %v, want fits=%v", tt.col.name, tt.col.t, tt.v.v, err, tt.fits)
		}
	}
}
