package cli_test

// Hostile names end to end: database names with every character that means
// something to T-SQL, to a file system or to an object store, non-ASCII
// letters and emoji, and target and primary names outside ASCII, through
// the real sqlserver engine to SQL Server simulators and to a destination of
// every kind. Each is quoted in T-SQL (the simulator parses as SQL Server
// does and rejects what it would), encoded in keys that stay under their
// prefix and never collide, and restored under its own name. Names SQL
// Server could not have, and control characters, are refused by validate.

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gblob "gocloud.dev/blob"

	"github.com/drsctl/drsctl/internal/artifact"
	dblob "github.com/drsctl/drsctl/internal/blob"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
	"github.com/drsctl/drsctl/internal/state"
	"github.com/drsctl/drsctl/internal/wiring"
)

// hostileDatabases are legal SQL Server database names. Pairs that a file
// system could confuse are here together: a/b, a\b and a_b read the same
// once Windows' forbidden characters are replaced; the two long names
// differ only in their last letter, after more bytes than fit in a file
// name.
var hostileDatabases = []string{
	"Sales]; DROP DATABASE x; --",
	"O'Brien",
	`say "hi"`,
	"semi;colon",
	"dash--dash",
	"a/b", `a\b`, "a_b",
	"a..b", "..", ".",
	" leading space", "two  spaces",
	"[brackets]", "N'x'",
	"Ünïcødé", "日本", "Sales 💾",
	"CON", "x~41",
	strings.Repeat("日本語", 41),
	strings.Repeat("日本語", 40) + "日本x",
}

// hostileTargets are target names beyond ASCII (block names must be HCL
// identifiers: letters, digits, '_' and '-').
var hostileTargets = drTargets{File: "östlich", SMB: "日本-smb", S3: "s3--vault", Azure: "ázúr_vault"}

const hostilePrimary = "vendas-ç"

// TestHostileNames_EndToEnd: every hostile database of a primary with a
// non-ASCII name is seeded and continued on a STANDBY standby (file://) and
// a NORECOVERY standby (SMB), and shipped to copy-only targets in S3 and
// Azure Blob, whose copies then restore on a drill server under the same
// names.
func TestHostileNames_EndToEnd(t *testing.T) {
	w := newDRWorld(t, drOptions{Primary: hostilePrimary, Databases: hostileDatabases, Targets: hostileTargets})
	if code := w.cliEnv().Validate(w.globals(), false); code != 0 {
		t.Fatalf("validate: exit %d\n%s", code, w.stderr.String())
	}
	w.insert(1)
	w.mustApply("seed")
	w.insert(2)
	waitLogDue()
	w.mustApply("logs")

	// The STANDBY standby reads back every row, under the same name.
	for _, db := range hostileDatabases {
		if got := w.rows(w.file, db); fmt.Sprint(got) != "[1 2]" {
			t.Errorf("%s: %q rows = %v, want [1 2]", hostileTargets.File, db, got)
		}
	}
	// The NORECOVERY standby holds each as RESTORING, after a full and a
	// log restored under that name.
	for _, db := range hostileDatabases {
		var rs []string
		for _, r := range w.smb.RestoreHistory() {
			if r.Database == db {
				rs = append(rs, r.Type)
			}
		}
		if fmt.Sprint(rs) != "[D L]" {
			t.Errorf("%s: %q restores %v, want a full then a log", hostileTargets.SMB, db, rs)
		}
	}
	if names := simDatabases(t, w, w.smb); !sameSet(names, hostileDatabases) {
		t.Errorf("%s holds %q, want exactly %q", hostileTargets.SMB, names, hostileDatabases)
	}
	if names := simDatabases(t, w, w.file); !sameSet(names, hostileDatabases) {
		t.Errorf("%s holds %q, want exactly %q", hostileTargets.File, names, hostileDatabases)
	}

	// The ledger: each database's artifacts under its own prefix; every
	// copy verified at every target.
	st := w.state()
	var all []string
	prefixes := map[string]string{}
	for _, db := range hostileDatabases {
		prefix := dblob.DatabasePrefix(hostilePrimary, db)
		if other, ok := prefixes[prefix]; ok {
			t.Errorf("%q and %q share the prefix %q", other, db, prefix)
		}
		prefixes[prefix] = db
		led := st.Primaries[hostilePrimary].Databases[db]
		if led == nil || len(led.Artifacts) != 2 {
			t.Fatalf("ledger of %q: %+v", db, led)
		}
		for _, a := range led.Artifacts {
			if !strings.HasPrefix(a.Key, prefix) {
				t.Errorf("%q: key %q is not under %q", db, a.Key, prefix)
			}
			all = append(all, a.Key)
			for _, tn := range []string{hostileTargets.File, hostileTargets.SMB, hostileTargets.S3, hostileTargets.Azure} {
				if c := st.Targets[tn].Databases[db].Copies[a.ID]; c == nil || c.VerifiedAt == nil || c.Key != a.Key {
					t.Errorf("%s: copy of %q's %s: %+v", tn, db, a.ID, c)
				}
			}
		}
	}

	// What is stored is exactly the ledger's keys, each safe, and nothing
	// lies outside the folder's or a destination's place.
	folder := filepath.Join(w.dir, "share")
	wantOnly(t, "backup folder", folder, dblob.EscapeName(hostilePrimary))
	wantOnly(t, "destinations' parent", filepath.Join(w.dir, "dest"), "file", "late")
	wantOnly(t, "SMB directory", w.smbDir, "dest")
	stored := map[string][]string{
		"backup folder":      walkKeys(t, folder),
		hostileTargets.File:  walkKeys(t, filepath.Join(w.dir, "dest", "file")),
		hostileTargets.SMB:   walkKeys(t, filepath.Join(w.smbDir, "dest")),
		hostileTargets.S3:    listKeys(t, w.s3Root, drPrefix+"/"),
		hostileTargets.Azure: listKeys(t, w.azRoot, drPrefix+"/"),
	}
	for where, keys := range stored {
		if !sameSet(keys, all) {
			t.Errorf("%s holds %d objects, the ledger %d:\nstored %q\nledger %q", where, len(keys), len(all), keys, all)
		}
		for _, k := range keys {
			if why := unsafeKey(k); why != "" {
				t.Errorf("%s: key %q: %s", where, k, why)
			}
		}
	}

	// The copies in S3 and Azure Blob restore under the same names: a
	// drill on a server of its own, through the engine.
	for _, store := range []struct {
		name string
		url  string
	}{{hostileTargets.S3, w.s3URL}, {hostileTargets.Azure, w.azURL}} {
		t.Run("drill from "+store.name, func(t *testing.T) {
			drill(t, w, store.url, st)
		})
	}
}

// drill downloads every database's copies from a store and restores them on
// a new simulator through the engine, under the database's own name.
func drill(t *testing.T, w *drWorld, storeURL string, st *state.State) {
	ctx := context.Background()
	dir := t.TempDir()
	sim, err := sqlsim.Start(sqlsim.Options{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "sim"), Name: "DRILL", LSNBase: "98765432109876543210000"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	drv, err := w.engines.Driver("sqlserver")
	if err != nil {
		t.Fatal(err)
	}
	s, err := drv.Open(ctx, sim.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, err := dblob.Open(ctx, storeURL)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	progress := engine.ProgressFunc(func(int, string) {})
	for i, db := range hostileDatabases {
		for j, a := range st.Primaries[hostilePrimary].Databases[db].Artifacts {
			body, err := b.ReadAll(ctx, a.Key)
			if err != nil {
				t.Fatalf("%q: read %s: %v", db, a.Key, err)
			}
			// Files named by index: how drsctl names files is the key
			// layout's business, checked above.
			p := filepath.Join(dir, fmt.Sprintf("%d-%d.bak", i, j))
			if err := os.WriteFile(p, body, 0o644); err != nil {
				t.Fatal(err)
			}
			h, err := s.Describe(ctx, p)
			if err != nil || h.Database != db {
				t.Fatalf("%s: the header names %q (%v), want %q", a.Key, h.Database, err, db)
			}
			req := engine.RestoreRequest{Database: db, Kind: a.Kind, ServerPath: p, Mode: engine.NoRecovery}
			if a.Kind == artifact.Full {
				req.DataDir = data
			}
			if err := s.Restore(ctx, req, progress); err != nil {
				t.Fatalf("restore %q from %s: %v", db, a.Key, err)
			}
		}
		if err := s.Recover(ctx, engine.RecoverRequest{Database: db}); err != nil {
			t.Fatalf("recover %q: %v", db, err)
		}
		if got := w.rows(sim, db); fmt.Sprint(got) != "[1 2]" {
			t.Errorf("%q restored from %s: rows %v, want [1 2]", db, storeURL[:strings.IndexByte(storeURL, ':')], got)
		}
	}
}

// simDatabases lists a simulator's user databases.
func simDatabases(t *testing.T, w *drWorld, s *sqlsim.Server) []string {
	t.Helper()
	var out []string
	seen := map[string]bool{}
	for _, r := range s.RestoreHistory() {
		if !seen[r.Database] {
			seen[r.Database] = true
			out = append(out, r.Database)
		}
	}
	// Through T-SQL too: sys.databases names each exactly.
	for _, db := range out {
		var n int
		err := w.withDB(s, func(c *sql.DB) error {
			return c.QueryRow("SELECT COUNT(*) FROM sys.databases WHERE name = @p1", db).Scan(&n)
		})
		if err != nil || n != 1 {
			t.Errorf("sys.databases rows for %q: %d (%v)", db, n, err)
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// wantOnly checks that a directory holds only the named entries (or fewer).
func wantOnly(t *testing.T, what, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !slices.Contains(names, e.Name()) {
			t.Errorf("%s %s holds %q: something escaped its place", what, dir, e.Name())
		}
	}
}

// walkKeys lists the files under dir as keys, drsctl's directory markers
// and fileblob's metadata files ("<key>.attrs", which its listings hide)
// left out.
func walkKeys(t *testing.T, dir string) []string {
	t.Helper()
	var keys []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() == ".drsctl-keep" || strings.HasSuffix(d.Name(), ".attrs") {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		keys = append(keys, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// listKeys lists a whole bucket or container and returns the keys under
// prefix (without it), failing on any object outside it.
func listKeys(t *testing.T, b *gblob.Bucket, prefix string) []string {
	t.Helper()
	var keys []string
	it := b.List(nil)
	for {
		obj, err := it.Next(context.Background())
		if err != nil {
			break
		}
		rest, ok := strings.CutPrefix(obj.Key, prefix)
		if !ok {
			t.Errorf("object %q is outside the destination's prefix %q", obj.Key, prefix)
			continue
		}
		if !strings.HasSuffix(rest, "/.drsctl-keep") {
			keys = append(keys, rest)
		}
	}
	return keys
}

// unsafeKey says why a key is not primary/database/kind/file with every
// segment safe on every storage ("" when it is).
func unsafeKey(k string) string {
	segs := strings.Split(k, "/")
	if len(segs) != 4 {
		return fmt.Sprintf("%d segments, want 4", len(segs))
	}
	for _, s := range segs {
		switch {
		case s == "" || s[0] == '.':
			return fmt.Sprintf("segment %q", s)
		case len(s) > 255:
			return fmt.Sprintf("segment of %d bytes", len(s))
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("_-~.", c) >= 0) {
				return fmt.Sprintf("byte %q", c)
			}
		}
	}
	return ""
}

// TestHostileNames_KeysInjectiveAndContained: random names over an
// alphabet of the characters that matter (T-SQL's quotes and separators,
// path separators and dots, the escape character, letters in both cases,
// non-ASCII letters, an emoji, control characters), some long enough to be
// shortened: no two names share a segment, a prefix or a key; every key is
// under its primary's and database's prefix; and joined to a server path of
// either style it stays below that path.
func TestHostileNames_KeysInjectiveAndContained(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 42))
	alphabet := []rune("]['\";-/\\. ~_%aAbBzZ09ÜüßİıΣσς日本語💾\t\x00\u202e")
	name := func() string {
		n := 1 + rng.IntN(12)
		if rng.IntN(20) == 0 {
			n = 60 + rng.IntN(68) // shortened with its SHA-256
		}
		rs := make([]rune, n)
		for i := range rs {
			rs[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(rs)
	}
	at := time.Date(2026, 11, 25, 4, 55, 0, 0, time.UTC)
	keys := map[string]string{}
	segs := map[string]string{}
	folded := map[string]string{}
	bases := []string{`\\fs01\drs\sales`, `D:\Backup`, "/var/opt/mssql/backup", "https://acct.blob.core.windows.net/c/p", "s3://host/bucket/p"}
	for range 20000 {
		primary, db := name(), name()
		seg := dblob.EscapeName(db)
		if other, ok := segs[seg]; ok && other != db {
			t.Fatalf("%q and %q share the segment %q", other, db, seg)
		}
		segs[seg] = db
		if other, ok := folded[strings.ToLower(seg)]; ok && !strings.EqualFold(other, db) {
			t.Fatalf("%q and %q have segments that differ only in case", other, db)
		}
		folded[strings.ToLower(seg)] = db
		for _, kind := range []artifact.Kind{artifact.Full, artifact.Log} {
			key := dblob.ArtifactKey(primary, db, kind, dblob.ArtifactFile(db, kind, at))
			id := primary + "\x00" + db + "\x00" + string(kind)
			if other, ok := keys[key]; ok && other != id {
				t.Fatalf("%q and %q share the key %q", other, id, key)
			}
			keys[key] = id
			if !strings.HasPrefix(key, dblob.DatabasePrefix(primary, db)) || !strings.HasPrefix(key, dblob.EscapeName(primary)+"/") {
				t.Fatalf("key %q is not under its prefixes", key)
			}
			if why := unsafeKey(key); why != "" {
				t.Fatalf("key %q for %q/%q: %s", key, primary, db, why)
			}
			for _, base := range bases {
				p := dblob.ServerPath(base, key)
				sep := "/"
				if strings.Contains(base, `\`) {
					sep = `\`
				}
				rest, ok := strings.CutPrefix(p, base+sep)
				if !ok || slices.Contains(strings.Split(rest, sep), "..") || strings.Contains(rest, map[string]string{"/": `\`, `\`: "/"}[sep]) {
					t.Fatalf("ServerPath(%q, %q) = %q leaves the base", base, key, p)
				}
			}
		}
	}
	t.Logf("%d names, %d keys: no collision", len(segs), len(keys))
}

// TestHostileNames_Validate: names SQL Server could not have, and control
// characters, are refused by validate, which says where (file and line) and
// what to do; block names that cannot be referenced are refused the same
// way. Legal names with the same characters elsewhere pass.
func TestHostileNames_Validate(t *testing.T) {
	const cfg = `backup_folder "share" {
  url = "file:///srv/drs"
}
primary "sales" {
  engine        = "sqlserver"
  connection    = env("PRIMARY_DSN")
  databases     = ["Sales",
    %s]
  backup_folder = backup_folder.share
  full_backup { every = "24h" }
  log_backup { every = "15m" }
  rpo = "30m"
}
target %s {
  primary    = primary.sales
  connection = env("EAST_DSN")
  destination { url = "file:///srv/east" }
}
`
	for _, c := range []struct {
		name, db, target string
		line             int
		want             []string // in the output
	}{
		{"tab", `"Sa\tles"`, `"east"`, 8, []string{"Control character in database name", "U+0009", "Rename the database"}},
		{"NUL", `"Sa\u0000les"`, `"east"`, 8, []string{"Control character in database name", "U+0000"}},
		{"newline", `"Sa\nles"`, `"east"`, 8, []string{"Control character in database name", "U+000A"}},
		{"right-to-left override", `"Sales\u202egpj.exe"`, `"east"`, 8, []string{"Control character in database name", "U+202E"}},
		// Written raw in the file: the source line shown must not carry it.
		{"raw right-to-left override", "\"Sales\u202egpj.exe\"", `"east"`, 8, []string{"Control character in database name", "U+202E", "Sales\ufffdgpj.exe"}},
		{"too long for sysname", `"` + strings.Repeat("日本", 65) + `"`, `"east"`, 8, []string{"Database name too long", "130 UTF-16 code units", "at most 128"}},
		{"trailing space", `"Orders "`, `"east"`, 8, []string{"Database name ends with a space", `names the database "Orders"`}},
		{"system database", `"tempdb"`, `"east"`, 8, []string{"System database", "regular jobs"}},
		{"same but case", `"SALES"`, `"east"`, 8, []string{"Database names differ only in case", `"Sales" (line 7`}},
		{"target with a bracket", `"Orders"`, `"east]"`, 14, []string{"Invalid name", "referenced as target.NAME"}},
		{"target with a quote", `"Orders"`, `"o'east"`, 14, []string{"Invalid name"}},
		{"target with a slash", `"Orders"`, `"a/b"`, 14, []string{"Invalid name"}},
		{"target with dots", `"Orders"`, `".."`, 14, []string{"Invalid name"}},
		{"target with a space", `"Orders"`, `"east dr"`, 14, []string{"Invalid name"}},
		{"target with an emoji", `"Orders"`, `"east💾"`, 14, []string{"Invalid name"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := &harness{t: t, dir: t.TempDir(), engines: wiring.Engines()}
			path := filepath.Join(h.dir, "main.drs.hcl")
			if err := os.WriteFile(path, []byte(fmt.Sprintf(cfg, c.db, c.target)), 0o644); err != nil {
				t.Fatal(err)
			}
			code := h.env().Validate(h.globals(), false)
			out := h.stdout.String() + h.stderr.String()
			if code != 1 {
				t.Fatalf("validate: exit %d, want 1\n%s", code, out)
			}
			if where := fmt.Sprintf("on %s line %d", path, c.line); !strings.Contains(out, where) {
				t.Errorf("the output does not say %q:\n%s", where, out)
			}
			for _, want := range c.want {
				if !strings.Contains(out, want) {
					t.Errorf("the output does not say %q:\n%s", want, out)
				}
			}
			if strings.ContainsAny(out, "\x00\u202e") {
				t.Errorf("the output carries a control character raw: %q", out)
			}
		})
	}
	// The same characters inside legal names pass.
	h := &harness{t: t, dir: t.TempDir(), engines: wiring.Engines()}
	var quoted []string
	for _, db := range hostileDatabases {
		quoted = append(quoted, hclString(db))
	}
	if err := os.WriteFile(filepath.Join(h.dir, "main.drs.hcl"), []byte(fmt.Sprintf(cfg, strings.Join(quoted, ", "), `"östlich-日本--dr"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := h.env().Validate(h.globals(), false); code != 0 {
		t.Errorf("legal hostile names: exit %d\n%s", code, h.stderr.String())
	}
}
