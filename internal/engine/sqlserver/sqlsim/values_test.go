package sqlsim

import (
	"math/big"
	"testing"
	"time"
)

// TestTypeRoundTrip encodes values as the server sends them (TYPE_INFO and
// value) and decodes them as RPC parameters: the two codecs agree, including
// the types go-mssqldb never sends for Go values (DECIMALN/NUMERICN, DATEN).
func TestTypeRoundTrip(t *testing.T) {
	huge, _ := new(big.Int).SetString(bigLSN, 10)
	neg := big.NewInt(-123456789)
	cases := []value{
		{t: tLSN, v: huge},
		{t: sqlType{k: kNumeric, prec: 18, scale: 4}, v: neg},
		{t: sqlType{k: kNumeric, prec: 38, scale: 0}, v: new(big.Int).Exp(big.NewInt(10), big.NewInt(37), nil)},
		null(tLSN),
		{t: tInt, v: int64(-5)},
		{t: tBigInt, v: int64(1) << 62},
		{t: tSmallInt, v: int64(-300)},
		{t: tTinyInt, v: int64(255)},
		{t: tBit, v: true},
		{t: sqlType{k: kFloat, size: 8}, v: 1.5},
		{t: tNVarChar(10), v: "héllo"},
		{t: sqlType{k: kNVarChar, size: -1}, v: "plp"},
		{t: sqlType{k: kVarChar, size: 5}, v: "abc"},
		{t: sqlType{k: kVarBinary, size: 4}, v: []byte{1, 2, 3}},
		{t: tDateTime, v: time.Date(2024, 5, 6, 7, 8, 9, 10_000_000, time.UTC)},
		{t: sqlType{k: kDateTime2, scale: 7}, v: time.Date(1, 1, 1, 0, 0, 0, 100, time.UTC)},
		{t: sqlType{k: kDateTimeOff, scale: 7}, v: time.Date(9999, 12, 31, 23, 59, 59, 999_999_900, time.FixedZone("", -7*3600))},
		{t: sqlType{k: kDate}, v: time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC)},
		guidVal("6F9619FF-8B86-D011-B42D-00C04FC964FF"),
	}
	for _, v := range cases {
		var b tbuf
		writeTypeInfo(&b, v.t)
		writeValue(&b, v.t, v)
		got, err := readParamValue(&rd{b: b.b})
		if err != nil {
			t.Fatalf("%v: %v", v.t, err)
		}
		if got.isNull() != v.isNull() {
			t.Fatalf("%v: null %v", v.t, got.isNull())
		}
		if v.isNull() {
			continue
		}
		c, ok, cerr := compare(got, v)
		if cerr != nil || !ok || c != 0 {
			t.Fatalf("%v: %s came back as %s (%v)", v.t, v.display(), got.display(), cerr)
		}
	}
}

func TestLexer(t *testing.T) {
	toks, err := lex("SELECT [a]]b], N'it''s', 'x', @p1, @@SPID -- comment\n/* block /* nested */ */ FROM t")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tk := range toks {
		got = append(got, tk.text)
	}
	want := []string{"SELECT", "a]b", ",", "it's", ",", "x", ",", "@p1", ",", "@@SPID", "FROM", "t", ""}
	if len(got) != len(want) {
		t.Fatalf("tokens %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("tokens %q, want %q", got, want)
		}
	}
	if toks[10].line != 2 {
		t.Fatalf("FROM on line %d", toks[10].line)
	}
	for _, bad := range []string{"SELECT 'open", "USE [open", "SELECT ]", "SELECT /* open"} {
		if _, err := lex(bad); err == nil {
			t.Fatalf("%q lexed", bad)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, q := range []string{
		"UPDATE dbo.drs_probe SET note = 'x'",
		"DELETE FROM dbo.drs_probe",
		"SELECT id FROM dbo.drs_probe WHERE id = 1 OR id = 2",
		"SELECT id FROM a LEFT JOIN b ON a.x = b.x",
		"CREATE TABLE t (id int)",
		"ALTER DATABASE x SET OFFLINE",
		"BACKUP DATABASE x TO DISK = 'a', DISK = 'b'",
		"CREATE DATABASE x ON PRIMARY (NAME = x)",
		"GO",
		"SELECT 1 garbage more",
	} {
		if _, err := parseBatch(q); err == nil {
			t.Errorf("%q parsed", q)
		}
	}
	for _, q := range []string{
		"SELECT 1",
		"select name from sys.databases where name = N'x' order by name",
		"BACKUP LOG [x] TO DISK = N'/a' WITH NORECOVERY, STATS",
		"RESTORE DATABASE x WITH RECOVERY",
		"USE [x]; SELECT COUNT(*) FROM dbo.drs_probe;",
		"INSERT dbo.drs_probe VALUES (1, NULL), (2, N'b')",
		"KILL 55",
		"SELECT TOP (1) bs.backup_set_id FROM msdb..backupset bs WITH (NOLOCK) ORDER BY 1 DESC",
	} {
		if _, err := parseBatch(q); err != nil {
			t.Errorf("%q: %v", q, err)
		}
	}
}
