package cli_test

// Corruption: bit flips (same size, modification time kept: rot on a disk,
// the case a refresh cannot see) and truncation of backup files in the
// backup folder and at a destination of every kind — file, SMB, S3, Azure
// Blob — against the SQL Server simulators and the real storage servers.
// Each is caught before any RESTORE reads it (a recording proxy in front of
// each standby hashes the file every RESTORE statement names, the moment
// the statement is sent), reported with what to do, and repaired by the
// next apply.
//
// This file also holds drWorld, the world hostile_names_test.go uses.

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	gblob "gocloud.dev/blob"

	"github.com/drsctl/drsctl/internal/artifact"
	dblob "github.com/drsctl/drsctl/internal/blob"
	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
	"github.com/drsctl/drsctl/internal/state"
	"github.com/drsctl/drsctl/internal/testenv"
	"github.com/drsctl/drsctl/internal/wiring"
)

// ---- a recording proxy in front of a simulator ----

// tdsRecorder is a TCP proxy in front of a SQL Server simulator that keeps
// every SQL batch clients send (msdb's restorehistory keeps only restores
// that succeeded; this sees every attempt). For a RESTORE statement that
// reads a file (FROM DISK = N'…') it hashes the file before passing the
// statement on: what the server was about to read, not what is there later.
type tdsRecorder struct {
	t       testing.TB
	ln      net.Listener
	backend string

	mu      sync.Mutex
	batches []string
	reads   []restoreRead
	conns   map[net.Conn]bool
	wg      sync.WaitGroup
}

// restoreRead is one RESTORE statement that names a backup file.
type restoreRead struct {
	Stmt, Path string
	SHA256     string // of the file when the statement was sent; "" when unreadable
	Size       int64
}

var restoreFromDisk = regexp.MustCompile(`(?is)^\s*RESTORE\s+(\w+).*?\bFROM\s+DISK\s*=\s*N'((?:[^']|'')*)'`)

func newTDSRecorder(t testing.TB, backend string) *tdsRecorder {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &tdsRecorder{t: t, ln: ln, backend: backend, conns: map[net.Conn]bool{}}
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(r.close)
	return r
}

func (r *tdsRecorder) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", r.backend)
		if err != nil {
			c.Close()
			continue
		}
		r.mu.Lock()
		r.conns[c], r.conns[s] = true, true
		r.mu.Unlock()
		r.wg.Add(2)
		go func() {
			defer r.wg.Done()
			io.Copy(c, s)
			c.Close()
		}()
		go func() {
			defer r.wg.Done()
			r.forward(c, s)
			s.Close()
		}()
	}
}

// forward copies TDS packets from the client to the server, reassembling
// SQL batches (packet type 1) to record them before their last packet goes
// on.
func (r *tdsRecorder) forward(c, s net.Conn) {
	var msg []byte
	hdr := make([]byte, 8)
	for {
		if _, err := io.ReadFull(c, hdr); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(hdr[2:4])) - 8
		if n < 0 {
			return
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(c, body); err != nil {
			return
		}
		if hdr[0] == 1 {
			msg = append(msg, body...)
			if hdr[1]&1 != 0 { // end of message
				r.record(msg)
				msg = nil
			}
		}
		if _, err := s.Write(append(hdr, body...)); err != nil {
			return
		}
	}
}

// record decodes a SQL batch: ALL_HEADERS (its length first), then UTF-16LE.
func (r *tdsRecorder) record(msg []byte) {
	if len(msg) < 4 {
		return
	}
	skip := int(binary.LittleEndian.Uint32(msg))
	if skip > len(msg) {
		return
	}
	text := msg[skip:]
	u := make([]uint16, len(text)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(text[2*i:])
	}
	batch := string(utf16.Decode(u))
	var read *restoreRead
	if m := restoreFromDisk.FindStringSubmatch(batch); m != nil {
		p := strings.ReplaceAll(m[2], "''", "'")
		read = &restoreRead{Stmt: strings.ToUpper(m[1]), Path: p}
		if b, err := os.ReadFile(p); err == nil {
			sum := sha256.Sum256(b)
			read.SHA256, read.Size = hex.EncodeToString(sum[:]), int64(len(b))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, batch)
	if read != nil {
		r.reads = append(r.reads, *read)
	}
}

// Reads returns the RESTORE statements that named a file, from the n-th on.
func (r *tdsRecorder) Reads(from int) []restoreRead {
	r.mu.Lock()
	defer r.mu.Unlock()
	if from > len(r.reads) {
		return nil
	}
	return slices.Clone(r.reads[from:])
}

func (r *tdsRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reads)
}

// dsn is the simulator's DSN pointing at the proxy.
func (r *tdsRecorder) dsn(simDSN string) string {
	u, err := url.Parse(simDSN)
	if err != nil {
		r.t.Fatal(err)
	}
	u.Host = r.ln.Addr().String()
	return u.String()
}

func (r *tdsRecorder) close() {
	r.ln.Close()
	r.mu.Lock()
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// ---- a world on every destination kind ----

// drTargets names a drWorld's targets.
type drTargets struct {
	File, SMB, S3, Azure string
}

// drOptions shape a drWorld.
type drOptions struct {
	Primary   string   // primary block name (default "sales")
	Databases []string // default ["Sales"]
	Targets   drTargets
	// RestoreDelay is the standbys' restore_delay ("" none).
	RestoreDelay string
	// Late adds a third standby, file://, named "late".
	Late bool
}

// drWorld: a primary and two standbys on SQL Server simulators (the
// standbys behind recording proxies), a file:// backup folder, and four
// targets: a STANDBY standby on file://, a NORECOVERY standby on SMB (the
// simulator reads the share's directory, as a Windows standby would its
// UNC path), copy-only targets in S3 and Azure Blob, each under a key
// prefix of its own in a bucket or container of its own.
type drWorld struct {
	*harness
	opts                 drOptions
	primary, file, smb   *sqlsim.Server
	late                 *sqlsim.Server
	fileRec, smbRec      *tdsRecorder
	lateRec              *tdsRecorder
	smbURL, smbDir       string // smbDir: this world's directory in the share
	s3URL, azURL         string // with the prefix
	s3Root, azRoot       *gblob.Bucket
	s3Bucket, azContainr string
	out                  string // output of the last command
}

const drPrefix = "dr/in" // the S3 and Azure destinations' key prefix

func newDRWorld(t *testing.T, o drOptions) *drWorld {
	env := testenv.Lookup(t, "DRSCTL_TEST_SMB_ADDR", "DRSCTL_TEST_SMB_SHARE", "DRSCTL_TEST_SMB_USER", "DRSCTL_TEST_SMB_PASSWORD", "DRSCTL_TEST_SMB_DIR",
		"DRSCTL_TEST_S3_ENDPOINT", "DRSCTL_TEST_S3_ACCESS_KEY", "DRSCTL_TEST_S3_SECRET_KEY",
		"DRSCTL_TEST_AZURE_DOMAIN", "DRSCTL_TEST_AZURE_ACCOUNT", "DRSCTL_TEST_AZURE_KEY")
	if o.Primary == "" {
		o.Primary = "sales"
	}
	if o.Databases == nil {
		o.Databases = []string{"Sales"}
	}
	if o.Targets == (drTargets{}) {
		o.Targets = drTargets{File: "east", SMB: "smbdr", S3: "s3vault", Azure: "azvault"}
	}
	useTestStorageCredentials(t, env)
	ctx := context.Background()
	unique := fmt.Sprintf("drsctl-dr-%d-%d", os.Getpid(), time.Now().UnixNano()%1e12)

	// Paths with a quote, brackets and a non-ASCII letter: every server
	// path reaches T-SQL as an N'…' literal.
	dir := filepath.Join(t.TempDir(), "it's [dr] ü")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dir: dir, clock: time.Now().UTC(), engines: wiring.Engines()}
	w := &drWorld{harness: h, opts: o}
	start := func(name string) *sqlsim.Server {
		s, err := sqlsim.Start(sqlsim.Options{Addr: "127.0.0.1:0", DataDir: filepath.Join(h.dir, name+"-sim"), Name: strings.ToUpper(name),
			LSNBase: "98765432109876543210000"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	w.primary, w.file, w.smb = start("primary"), start("file"), start("smb")
	w.fileRec, w.smbRec = newTDSRecorder(t, w.file.Addr()), newTDSRecorder(t, w.smb.Addr())
	if o.Late {
		w.late = start("late")
		w.lateRec = newTDSRecorder(t, w.late.Addr())
	}
	for _, d := range []string{"share", "dest/file", "dest/late", "file-data", "smb-data", "late-data"} {
		if err := os.MkdirAll(filepath.Join(h.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	// The SMB driver creates the directories (as the share's user).
	w.smbDir = filepath.Join(env["DRSCTL_TEST_SMB_DIR"], unique)
	t.Cleanup(func() { os.RemoveAll(w.smbDir) })
	w.smbURL = (&url.URL{Scheme: "smb", User: url.User(env["DRSCTL_TEST_SMB_USER"]), Host: env["DRSCTL_TEST_SMB_ADDR"],
		Path: "/" + env["DRSCTL_TEST_SMB_SHARE"] + "/" + unique + "/dest"}).String()

	w.s3Bucket = unique
	s3q := url.Values{"endpoint": {env["DRSCTL_TEST_S3_ENDPOINT"]}, "use_path_style": {"true"}, "region": {"us-east-1"}, "disable_https": {"true"}}.Encode()
	w.s3URL = "s3://" + unique + "/" + drPrefix + "?" + s3q
	s3Root, err := dblob.Open(ctx, "s3://"+unique+"?"+s3q)
	if err != nil {
		t.Fatal(err)
	}
	var s3c *s3.Client
	if !s3Root.As(&s3c) {
		t.Fatal("no S3 client")
	}
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(unique)}); err != nil {
		t.Fatalf("create bucket %s: %v", unique, err)
	}
	t.Cleanup(func() {
		bg := context.Background()
		it := s3Root.List(nil)
		for {
			obj, err := it.Next(bg)
			if err != nil {
				break
			}
			s3Root.Delete(bg, obj.Key)
		}
		s3c.DeleteBucket(bg, &s3.DeleteBucketInput{Bucket: aws.String(unique)})
		s3Root.Close()
	})
	w.s3Root = s3Root

	w.azContainr = unique
	azq := url.Values{"protocol": {"http"}, "domain": {env["DRSCTL_TEST_AZURE_DOMAIN"]}}.Encode()
	w.azURL = "azblob://" + unique + "/" + drPrefix + "?" + azq
	azRoot, err := dblob.Open(ctx, "azblob://"+unique+"?"+azq)
	if err != nil {
		t.Fatal(err)
	}
	var azc *container.Client
	if !azRoot.As(&azc) {
		t.Fatal("no Azure container client")
	}
	if _, err := azc.Create(ctx, nil); err != nil {
		t.Fatalf("create container %s: %v", unique, err)
	}
	t.Cleanup(func() {
		azc.Delete(context.Background(), nil)
		azRoot.Close()
	})
	w.azRoot = azRoot

	w.writeConfig()
	for _, db := range o.Databases {
		if err := w.execSQL(w.primary, "CREATE DATABASE "+quoteIdent(db)); err != nil {
			t.Fatalf("create %q on the primary: %v", db, err)
		}
	}
	return w
}

func (w *drWorld) writeConfig() {
	w.t.Helper()
	o := w.opts
	var dbs []string
	for _, d := range o.Databases {
		dbs = append(dbs, hclString(d))
	}
	delay := ""
	if o.RestoreDelay != "" {
		delay = fmt.Sprintf("restore_delay = %q", o.RestoreDelay)
	}
	cfg := fmt.Sprintf(`
backup_folder "share" {
  url = %[1]s
}
primary %[2]q {
  engine        = "sqlserver"
  connection    = env("PRIMARY_DSN")
  databases     = [%[3]s]
  backup_folder = backup_folder.share
  full_backup { every = "24h" }
  log_backup { every = "1s" }
  rpo = "1h"
}
target %[4]q {
  primary          = primary.%[2]s
  connection       = env("FILE_DSN")
  restore_mode     = "standby"
  disconnect_users = true
  data_dir         = %[5]s
  %[6]s
  destination { url = %[7]s }
}
target %[8]q {
  primary      = primary.%[2]s
  connection   = env("SMB_DSN")
  restore_mode = "norecovery"
  data_dir     = %[9]s
  %[6]s
  destination {
    url         = %[10]q
    server_path = %[11]s
  }
}
target %[12]q {
  primary = primary.%[2]s
  kind    = "copy_only"
  destination {
    url         = %[13]q
    part_size   = "5MiB"
    concurrency = 2
  }
}
target %[14]q {
  primary = primary.%[2]s
  kind    = "copy_only"
  destination { url = %[15]q }
}
`, hclString("file://"+filepath.Join(w.dir, "share")), o.Primary, strings.Join(dbs, ", "),
		o.Targets.File, hclString(filepath.Join(w.dir, "file-data")), delay, hclString("file://"+filepath.Join(w.dir, "dest", "file")),
		o.Targets.SMB, hclString(filepath.Join(w.dir, "smb-data")), w.smbURL, hclString(filepath.Join(w.smbDir, "dest")),
		o.Targets.S3, w.s3URL, o.Targets.Azure, w.azURL)
	if o.Late {
		cfg += fmt.Sprintf(`
target "late" {
  primary      = primary.%[1]s
  connection   = env("LATE_DSN")
  restore_mode = "standby"
  data_dir     = %[2]s
  destination { url = %[3]s }
}
`, o.Primary, hclString(filepath.Join(w.dir, "late-data")), hclString("file://"+filepath.Join(w.dir, "dest", "late")))
	}
	if err := os.WriteFile(filepath.Join(w.dir, "main.drs.hcl"), []byte(cfg), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// hclString is s as an HCL string literal (templates escaped).
func hclString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return strings.NewReplacer("${", "$${", "%{", "%%{").Replace(b.String())
}

func (w *drWorld) cliEnv() *cli.Env {
	e := w.env()
	dsns := map[string]string{"PRIMARY_DSN": w.primary.DSN(""), "FILE_DSN": w.fileRec.dsn(w.file.DSN("")), "SMB_DSN": w.smbRec.dsn(w.smb.DSN(""))}
	if w.late != nil {
		dsns["LATE_DSN"] = w.lateRec.dsn(w.late.DSN(""))
	}
	e.Getenv = func(k string) (string, bool) { v, ok := dsns[k]; return v, ok }
	e.Now = nil // real time: the simulators stamp backups with it
	return e
}

// apply applies everything and returns the exit code (output in w.out).
func (w *drWorld) apply(what string) int {
	w.t.Helper()
	code := w.cliEnv().Apply(context.Background(), w.globals(), cli.ApplyOptions{AutoApprove: true, Refresh: true, Parallelism: 4})
	w.out = w.stdout.String() + w.stderr.String()
	w.t.Logf("apply (%s) → %d\n%s", what, code, w.out)
	return code
}

func (w *drWorld) mustApply(what string) {
	w.t.Helper()
	if code := w.apply(what); code != 0 {
		w.t.Fatalf("%s: apply exit %d", what, code)
	}
}

// plan plans with a refresh; the output is in w.out.
func (w *drWorld) plan() int {
	w.t.Helper()
	code := w.cliEnv().Plan(context.Background(), w.globals(), cli.PlanOptions{Refresh: true, DetailedExitCode: true})
	w.out = w.stdout.String() + w.stderr.String()
	return code
}

func (w *drWorld) execSQL(s *sqlsim.Server, q string) error {
	return (&sqlHarness{harness: w.harness}).exec(s, q)
}

// insert writes row id into every database on the primary.
func (w *drWorld) insert(id int) {
	w.t.Helper()
	for _, db := range w.opts.Databases {
		if err := w.execSQL(w.primary, fmt.Sprintf("INSERT INTO %s.dbo.drs_probe(id, note) VALUES (%d, %s)", quoteIdent(db), id, quoteNString(db))); err != nil {
			w.t.Fatalf("insert into %q: %v", db, err)
		}
	}
}

func quoteNString(s string) string { return "N'" + strings.ReplaceAll(s, "'", "''") + "'" }

// withDB runs f on a connection to a simulator.
func (w *drWorld) withDB(s *sqlsim.Server, f func(*sql.DB) error) error {
	c, err := sql.Open("sqlserver", s.DSN(""))
	if err != nil {
		return err
	}
	defer c.Close()
	return f(c)
}

func (w *drWorld) rows(s *sqlsim.Server, db string) []int {
	return (&sqlHarness{harness: w.harness}).rows(s, db)
}

// artifacts returns the ledger's artifacts of a database, oldest first.
func (w *drWorld) artifacts(db string) []*state.Artifact {
	w.t.Helper()
	p := w.state().Primaries[w.opts.Primary]
	if p == nil || p.Databases[db] == nil {
		w.t.Fatalf("no ledger for %q", db)
	}
	return p.Databases[db].Artifacts
}

// ledgerByKey maps every key to the artifact the ledger records there.
func (w *drWorld) ledgerByKey() map[string]*state.Artifact {
	out := map[string]*state.Artifact{}
	for _, db := range w.state().Primaries[w.opts.Primary].Databases {
		for _, a := range db.Artifacts {
			out[a.Key] = a
		}
	}
	return out
}

// checkReads asserts that every RESTORE statement a standby received named
// a file holding exactly what the ledger says the backup holds.
func (w *drWorld) checkReads(name string, rec *tdsRecorder, from int, destDir string) {
	w.t.Helper()
	byKey := w.ledgerByKey()
	for _, r := range rec.Reads(from) {
		rel, err := filepath.Rel(destDir, r.Path)
		if err != nil || strings.HasPrefix(rel, "..") {
			w.t.Errorf("%s: RESTORE %s read %s, outside its destination %s", name, r.Stmt, r.Path, destDir)
			continue
		}
		a := byKey[filepath.ToSlash(rel)]
		switch {
		case a == nil:
			w.t.Errorf("%s: RESTORE %s read %s, which the ledger does not know", name, r.Stmt, r.Path)
		case r.SHA256 != a.SHA256 || r.Size != a.Size:
			w.t.Errorf("%s: RESTORE %s was sent for a damaged copy of %s: %d bytes with SHA-256 %q, the backup is %d bytes with %s",
				name, r.Stmt, a.ID, r.Size, r.SHA256, a.Size, a.SHA256)
		}
	}
}

// restoredOnce asserts that each backup was restored at most once on a
// standby (msdb.dbo.restorehistory): no repeated restore.
func restoredOnce(t *testing.T, name string, s *sqlsim.Server) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range s.RestoreHistory() {
		k := r.Database + "|" + r.Type + "|" + r.FirstLSN + "|" + r.LastLSN
		if seen[k] {
			t.Errorf("%s: %q restored %s %s–%s twice", name, r.Database, r.Type, r.FirstLSN, r.LastLSN)
		}
		seen[k] = true
	}
}

// restoresOf lists what a standby restored into a database (LastLSNs).
func restoresOf(s *sqlsim.Server, db string) []string {
	var out []string
	for _, r := range s.RestoreHistory() {
		if r.Database == db {
			out = append(out, r.Type+":"+r.LastLSN)
		}
	}
	return out
}

// ---- damaging ----

type damage int

const (
	bitFlip  damage = iota // one byte flipped in the middle; size and modification time kept
	truncate               // cut to half its size; modification time kept
)

func (d damage) String() string { return [...]string{"bit flip", "truncation"}[d] }

func (d damage) apply(b []byte) []byte {
	b = slices.Clone(b)
	if d == truncate {
		return b[:len(b)/2]
	}
	b[len(b)/2] ^= 0x10
	return b
}

// damageFile damages a file in place, keeping its modification time (a
// disk's rot, not a writer: `touch -r`).
func damageFile(t *testing.T, p string, d damage) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, d.apply(b), fi.Mode()); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// damageObject rewrites an object with damaged content and the metadata it
// had (its sha256 among them): object stores cannot keep the modification
// time, so this is what a faulty writer or a bad replica leaves.
func damageObject(t *testing.T, b *gblob.Bucket, key string, d damage) {
	t.Helper()
	ctx := context.Background()
	attrs, err := b.Attributes(ctx, key)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	data, err := b.ReadAll(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // a modification time the storage can tell apart
	if err := b.WriteAll(ctx, key, d.apply(data), &gblob.WriterOptions{Metadata: attrs.Metadata}); err != nil {
		t.Fatal(err)
	}
}

// sha256Of is the SHA-256 of an object (or file through a file:// bucket).
func sha256Of(t *testing.T, b *gblob.Bucket, key string) string {
	t.Helper()
	data, err := b.ReadAll(context.Background(), key)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// TestCorruption_DestinationsCaughtBeforeRestore: a log backup is shipped
// and verified everywhere while the standbys' restore_delay holds its
// restore back; then its copy is damaged at every destination kind at once.
// When the delay has passed, no RESTORE reads a damaged copy: a truncated
// copy shows in the refresh (its size) and is shipped again before the
// restore; a flipped bit shows in neither size nor time on file and SMB, and
// apply reads the copy again before restoring one verified by an earlier
// run. The next apply repairs every copy from the backup folder and the
// standbys catch up, each backup restored once.
func TestCorruption_DestinationsCaughtBeforeRestore(t *testing.T) {
	for _, d := range []damage{bitFlip, truncate} {
		t.Run(d.String(), func(t *testing.T) {
			w := newDRWorld(t, drOptions{})
			ctx := context.Background()
			w.insert(1)
			w.mustApply("seed")
			w.opts.RestoreDelay = "3s"
			w.writeConfig()
			w.insert(2)
			waitLogDue()
			w.mustApply("log backup, shipped, restore delayed")
			arts := w.artifacts("Sales")
			log := arts[len(arts)-1]
			if log.Kind != artifact.Log {
				t.Fatalf("newest artifact %s is not a log backup", log.ID)
			}
			st := w.state()
			for _, tn := range []string{"east", "smbdr", "s3vault", "azvault"} {
				c := st.Targets[tn].Databases["Sales"].Copies[log.ID]
				if c == nil || c.VerifiedAt == nil {
					t.Fatalf("%s: the log's copy is not verified before the damage: %+v", tn, c)
				}
			}
			if got := restoresOf(w.file, "Sales"); len(got) != 1 {
				t.Fatalf("east restored %v before the delay passed; want only the full", got)
			}

			fileDir, smbDir := filepath.Join(w.dir, "dest", "file"), filepath.Join(w.smbDir, "dest")
			damageFile(t, filepath.Join(fileDir, filepath.FromSlash(log.Key)), d)
			damageFile(t, filepath.Join(smbDir, filepath.FromSlash(log.Key)), d)
			s3b, err := dblob.Open(ctx, w.s3URL)
			if err != nil {
				t.Fatal(err)
			}
			defer s3b.Close()
			azb, err := dblob.Open(ctx, w.azURL)
			if err != nil {
				t.Fatal(err)
			}
			defer azb.Close()
			damageObject(t, s3b, log.Key, d)
			damageObject(t, azb, log.Key, d)
			time.Sleep(3 * time.Second) // the restore delay

			// The refresh sees what size and time can show. Shipping the
			// damaged copies again is repair, not the configuration's: exit 0.
			if code := w.plan(); code != 0 {
				t.Fatalf("plan exit %d:\n%s", code, w.out)
			}
			for _, tn := range []string{"s3vault", "azvault"} {
				if !strings.Contains(w.out, fmt.Sprintf("%s at target %q's destination", log.ID, tn)) {
					t.Errorf("the plan does not report the damaged copy at %s:\n%s", tn, w.out)
				}
			}
			if d == truncate && !strings.Contains(w.out, fmt.Sprintf("%s at target %q's destination: the copy has", log.ID, "east")) {
				t.Errorf("the plan does not report the truncated copy at east:\n%s", w.out)
			}

			fileFrom, smbFrom := w.fileRec.count(), w.smbRec.count()
			code := w.apply("damaged copies, delay passed")
			switch d {
			case bitFlip:
				// Caught only by reading: apply proves the copy before the
				// restore, refuses it, says so and what happens next.
				if code != 1 {
					t.Fatalf("apply with rotten copies: exit %d, want 1", code)
				}
				for _, want := range []string{"nothing was restored", "is damaged", "it will be shipped again"} {
					if !strings.Contains(w.out, want) {
						t.Errorf("the apply output does not say %q", want)
					}
				}
			case truncate:
				if code != 0 {
					t.Fatalf("apply with truncated copies: exit %d, want 0 (shipped again before the restore)", code)
				}
			}
			w.checkReads("east", w.fileRec, fileFrom, fileDir)
			w.checkReads("smbdr", w.smbRec, smbFrom, smbDir)

			w.opts.RestoreDelay = ""
			w.writeConfig()
			waitLogDue()
			w.insert(3)
			w.mustApply("repair")
			waitLogDue()
			w.mustApply("catch up")
			w.checkReads("east", w.fileRec, 0, fileDir)
			w.checkReads("smbdr", w.smbRec, 0, smbDir)
			if got := w.rows(w.file, "Sales"); fmt.Sprint(got) != "[1 2 3]" {
				t.Errorf("east rows = %v, want [1 2 3]", got)
			}
			restoredOnce(t, "east", w.file)
			restoredOnce(t, "smbdr", w.smb)
			if !slices.Contains(restoresOf(w.smb, "Sales"), "L:"+string(log.LastLSN)) {
				t.Errorf("smbdr never restored %s: %v", log.ID, restoresOf(w.smb, "Sales"))
			}
			// Every copy is whole again.
			fileB, err := dblob.Open(ctx, "file://"+fileDir)
			if err != nil {
				t.Fatal(err)
			}
			defer fileB.Close()
			for name, b := range map[string]*gblob.Bucket{"east": fileB, "s3vault": s3b, "azvault": azb} {
				if got := sha256Of(t, b, log.Key); got != log.SHA256 {
					t.Errorf("%s: copy of %s has SHA-256 %s after the repair, want %s", name, log.ID, got, log.SHA256)
				}
			}
			if b, err := os.ReadFile(filepath.Join(smbDir, filepath.FromSlash(log.Key))); err != nil || fmt.Sprintf("%x", sha256.Sum256(b)) != log.SHA256 {
				t.Errorf("smbdr: copy of %s not repaired (%v)", log.ID, err)
			}
			st = w.state()
			for _, tn := range []string{"east", "smbdr", "s3vault", "azvault"} {
				if c := st.Targets[tn].Databases["Sales"].Copies[log.ID]; c == nil || c.VerifiedAt == nil || c.SHA256 != log.SHA256 {
					t.Errorf("%s: repaired copy not verified in the ledger: %+v", tn, c)
				}
			}
		})
	}
}

// TestCorruption_BackupFolderNeedsNewFull: the only full backup rots (or is
// cut short) in the backup folder; then a new standby is added, which must
// be seeded from a full. Shipping reads the folder's file whole and finds it
// damaged: nothing reaches the new standby's destination, the ledger marks
// the full damaged, and the message says what happens next. The next apply
// takes a new full and seeds from it; the other targets carry on.
func TestCorruption_BackupFolderNeedsNewFull(t *testing.T) {
	for _, d := range []damage{bitFlip, truncate} {
		t.Run(d.String(), func(t *testing.T) {
			w := newDRWorld(t, drOptions{})
			w.insert(1)
			w.mustApply("seed")
			full := w.artifacts("Sales")[0]
			if full.Kind != artifact.Full {
				t.Fatalf("first artifact %s is not a full", full.ID)
			}
			damageFile(t, filepath.Join(w.dir, "share", filepath.FromSlash(full.Key)), d)

			w.opts.Late = true
			w.late = nil
			w.addLate()
			w.insert(2)
			waitLogDue()
			if code := w.apply("a new standby, the full damaged"); code != 1 {
				t.Fatalf("exit %d, want 1", code)
			}
			for _, want := range []string{"backup folder's copy of " + full.ID + " is damaged", "will not be used again", "new full backup"} {
				if !strings.Contains(w.out, want) {
					t.Errorf("the apply output does not say %q", want)
				}
			}
			if _, err := os.Stat(filepath.Join(w.dir, "dest", "late", filepath.FromSlash(full.Key))); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a copy of the damaged full reached late's destination (%v)", err)
			}
			if a := w.artifacts("Sales")[0]; a.DamagedAt == nil {
				t.Errorf("the ledger does not mark %s damaged", a.ID)
			}

			waitLogDue()
			w.mustApply("new full, late seeded")
			waitLogDue()
			w.insert(3)
			w.mustApply("catch up")
			if got := w.rows(w.late, "Sales"); fmt.Sprint(got) != "[1 2 3]" {
				t.Errorf("late rows = %v", got)
			}
			if got := w.rows(w.file, "Sales"); fmt.Sprint(got) != "[1 2 3]" {
				t.Errorf("east rows = %v", got)
			}
			fulls := 0
			for _, a := range w.artifacts("Sales") {
				if a.Kind == artifact.Full {
					fulls++
				}
			}
			if fulls != 2 {
				t.Errorf("%d full backups in the ledger, want 2 (the damaged one and a new one)", fulls)
			}
			w.checkReads("late", w.lateRec, 0, filepath.Join(w.dir, "dest", "late"))
			w.checkReads("east", w.fileRec, 0, filepath.Join(w.dir, "dest", "file"))
			for _, r := range w.lateRec.Reads(0) {
				if strings.HasSuffix(filepath.ToSlash(r.Path), full.Key) {
					t.Errorf("late read the damaged full: RESTORE %s %s", r.Stmt, r.Path)
				}
			}
			restoredOnce(t, "late", w.late)
			restoredOnce(t, "east", w.file)
			if fullRestoresSim(w.file) != 1 {
				t.Errorf("east was seeded %d times; the damaged folder copy must not reseed a standby that does not need it", fullRestoresSim(w.file))
			}
		})
	}
}

// addLate starts the late standby and writes it into the configuration.
func (w *drWorld) addLate() {
	w.t.Helper()
	s, err := sqlsim.Start(sqlsim.Options{Addr: "127.0.0.1:0", DataDir: filepath.Join(w.dir, "late-sim"), Name: "LATE", LSNBase: "98765432109876543210000"})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { s.Close() })
	w.late, w.lateRec = s, newTDSRecorder(w.t, s.Addr())
	w.writeConfig()
}

func fullRestoresSim(s *sqlsim.Server) int {
	n := 0
	for _, r := range s.RestoreHistory() {
		if r.Type == "D" {
			n++
		}
	}
	return n
}
