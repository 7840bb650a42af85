package cli_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
	"github.com/drsctl/drsctl/internal/state"
	"github.com/drsctl/drsctl/internal/testenv"
)

// TestSecrets plants a distinctive credential in every place drsctl takes
// one — SQL Server connection strings (URL, ADO and ODBC forms, from env()
// and file(), one that does not parse), SMB passwords (DRSCTL_SMB_PASSWORD,
// password_env, one in the URL, which is refused), S3 keys (environment,
// session token, shared credentials file with profile=, user info and query
// parameters in the URL), Azure credentials (account key, SAS token,
// connection string with a key or a SAS) — and runs every command, plain,
// -json and -log-level debug, in five worlds: servers up with the right
// credentials; wrong credentials (auth error paths); URLs that fail
// validation; servers down (dial error paths); servers that refuse (a
// storage endpoint that fails every request, then every upload, with an
// error quoting the request back; a missing share; SQL ports that hang up).
// No planted value, nor its URL-escaped or base64 forms, may appear in any
// output, the state file, its backups and temporaries, the lock file or a
// saved plan.
//
// drsctl runs as a built binary, one process per command: the storage SDKs
// read credentials from the process environment, so only a fresh process
// sees each world's.
func TestSecrets(t *testing.T) {
	env := testenv.Lookup(t, "DRSCTL_TEST_SMB_ADDR", "DRSCTL_TEST_SMB_SHARE", "DRSCTL_TEST_SMB_USER", "DRSCTL_TEST_SMB_PASSWORD", "DRSCTL_TEST_SMB_DIR",
		"DRSCTL_TEST_S3_ENDPOINT", "DRSCTL_TEST_S3_ACCESS_KEY", "DRSCTL_TEST_S3_SECRET_KEY",
		"DRSCTL_TEST_AZURE_DOMAIN", "DRSCTL_TEST_AZURE_ACCOUNT", "DRSCTL_TEST_AZURE_KEY")
	w := newSecretsWorld(t, env)

	w.upWorld()
	w.badAuthWorld()
	w.badConfigWorld()
	w.downWorld()
	w.refusingWorld()

	// The test must have seen what it guards: every kind of failure was met.
	for _, want := range w.mustSee {
		if !strings.Contains(w.seen.String(), want) {
			t.Errorf("no command output mentions %q: the error path it stands for was not exercised", want)
		}
	}
	t.Logf("%d drsctl runs, %d planted values in %d forms, no leak found unless reported above", w.runs, len(w.secrets), len(w.needles()))
}

// secretsWorld is one configuration directory, three SQL Server simulators
// with passwords, and the storage servers of scripts/testenv.sh.
type secretsWorld struct {
	t        *testing.T
	env      map[string]string
	bin      string
	dir      string // configuration, state, plans, file:// storage
	home     string // the runs' HOME: no ~/.aws or the like of the machine's
	unique   string
	smbDir   string // the share directory this test uses, on disk
	primary  *sqlsim.Server
	east     *sqlsim.Server
	west     *sqlsim.Server
	secrets  map[string]string // label → planted value
	mustSee  []string
	seen     strings.Builder // every output, to check mustSee
	runs     int
	needleCh []needle // cached needles
	reported map[string]bool
	inputs   map[string]bool // files that hold secrets on purpose: drsctl reads them
}

// The simulators' passwords; each is a connection string's secret in the
// world where servers are up. The primary's needs escaping in a URL.
const (
	pwPrimary = "Pw-7f3a9c/PRIMARY@url+x"
	pwEast    = "Pw-5b21e8-EAST-ado"
	pwWest    = "Pw-c94d17;WEST-odbc"
)

func newSecretsWorld(t *testing.T, env map[string]string) *secretsWorld {
	w := &secretsWorld{t: t, env: env, dir: t.TempDir(), home: t.TempDir(), secrets: map[string]string{}, reported: map[string]bool{},
		inputs: map[string]bool{"west.dsn": true}, unique: fmt.Sprintf("drsctl-secrets-%d", time.Now().UnixNano())}
	w.bin = filepath.Join(t.TempDir(), "drsctl")
	start := time.Now()
	if out, err := exec.Command("go", "build", "-o", w.bin, "github.com/drsctl/drsctl/cmd/drsctl").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built drsctl in %s", time.Since(start).Round(time.Millisecond))

	simDir := t.TempDir()
	startSim := func(name, pw string) *sqlsim.Server {
		s, err := sqlsim.Start(sqlsim.Options{Addr: "127.0.0.1:0", DataDir: filepath.Join(simDir, name), Name: strings.ToUpper(name),
			Password: pw, LSNBase: "98765432109876543210000"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	w.primary, w.east, w.west = startSim("primary", pwPrimary), startSim("east", pwEast), startSim("west", pwWest)
	w.plant("sql primary password (URL DSN)", pwPrimary)
	w.plant("sql east password (ADO DSN)", pwEast)
	w.plant("sql west password (ODBC DSN in a file)", pwWest)
	// The testenv servers' own credentials are secrets too (the S3 access
	// key ID is not checked in this world: it is also the SMB user name).
	w.plant("smb password (testenv)", env["DRSCTL_TEST_SMB_PASSWORD"])
	w.plant("s3 secret key (testenv)", env["DRSCTL_TEST_S3_SECRET_KEY"])
	w.plant("azure account key (testenv)", env["DRSCTL_TEST_AZURE_KEY"])

	for _, d := range []string{"share", "east", "east-data", "west-data"} {
		if err := os.MkdirAll(filepath.Join(w.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w.smbDir = filepath.Join(env["DRSCTL_TEST_SMB_DIR"], w.unique)
	t.Cleanup(func() { os.RemoveAll(w.smbDir) })
	w.sqlExec(w.primary, "CREATE DATABASE [Sales]")
	return w
}

// plant records a value that must never be printed or stored.
func (w *secretsWorld) plant(label, value string) string {
	w.t.Helper()
	if len(value) < 8 {
		w.t.Fatalf("planted value %q for %s is too short to search for", value, label)
	}
	w.secrets[label] = value
	w.needleCh = nil
	return value
}

func (w *secretsWorld) sqlExec(s *sqlsim.Server, q string) {
	w.t.Helper()
	db, err := sql.Open("sqlserver", s.DSN(""))
	if err != nil {
		w.t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(q); err != nil {
		w.t.Fatalf("%s: %v", q, err)
	}
}

// ---- configuration ----

// secretsConfig takes every location from the environment, so that each
// world points it elsewhere without touching the ledger's names.
const secretsConfig = `
backup_folder "share" {
  url = "file://{{DIR}}/share"
}

primary "sales" {
  engine        = "sqlserver"
  connection    = env("PRIMARY_DSN")
  databases     = ["Sales"]
  backup_folder = backup_folder.share
  full_backup { every = "24h" }
  log_backup { every = "1s" }
  rpo = "1h"
}

target "east" {
  primary      = primary.sales
  connection   = env("EAST_DSN")
  restore_mode = "standby"
  data_dir     = "{{DIR}}/east-data"
  destination { url = "file://{{DIR}}/east" }
}

target "west" {
  primary      = primary.sales
  connection   = file("west.dsn")
  restore_mode = "norecovery"
  data_dir     = "{{DIR}}/west-data"
  destination {
    url         = env("WEST_SMB_URL")
    server_path = "{{SMBDIR}}/west"
  }
}

target "smbcopy" {
  primary = primary.sales
  kind    = "copy_only"
  destination { url = env("COPY_SMB_URL") }
}

target "s3vault" {
  primary = primary.sales
  kind    = "copy_only"
  destination { url = env("S3_URL") }
}

target "azvault" {
  primary = primary.sales
  kind    = "copy_only"
  destination { url = env("AZ_URL") }
}
`

// extraTarget is a copy_only target whose destination URL comes from the
// named variable.
func extraTarget(name, variable string) string {
	return fmt.Sprintf("\ntarget %q {\n  primary = primary.sales\n  kind    = \"copy_only\"\n  destination { url = env(%q) }\n}\n", name, variable)
}

// extraStandby is a standby target connecting with the named variable's
// connection string (east is promoted by the time the extras are added).
func extraStandby(name, variable string) string {
	return fmt.Sprintf("\ntarget %[1]q {\n  primary      = primary.sales\n  connection   = env(%[2]q)\n  restore_mode = \"norecovery\"\n"+
		"  data_dir     = \"{{DIR}}/%[1]s-data\"\n  destination { url = \"file://{{DIR}}/%[1]s\" }\n}\n", name, variable)
}

func (w *secretsWorld) writeConfig(westDSN string, extra ...string) {
	w.t.Helper()
	cfg := strings.NewReplacer("{{DIR}}", w.dir, "{{SMBDIR}}", w.smbDir).Replace(secretsConfig + strings.Join(extra, ""))
	if err := os.WriteFile(filepath.Join(w.dir, "main.drs.hcl"), []byte(cfg), 0o644); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, "west.dsn"), []byte(westDSN), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

// The three connection string forms go-mssqldb takes.
func urlDSN(addr, pw string) string {
	return (&url.URL{Scheme: "sqlserver", User: url.UserPassword("sa", pw), Host: addr, RawQuery: "database=master&encrypt=disable"}).String()
}

func adoDSN(addr, pw string) string {
	host, port, _ := net.SplitHostPort(addr)
	return fmt.Sprintf("server=%s,%s;user id=sa;password=%s;encrypt=disable;database=master", host, port, pw)
}

func odbcDSN(addr, pw string) string {
	host, port, _ := net.SplitHostPort(addr)
	return fmt.Sprintf("odbc:server=%s;port=%s;user id=sa;password={%s};encrypt=disable", host, port, strings.ReplaceAll(pw, "}", "}}"))
}

func (w *secretsWorld) smbURL(addr, share, dir, query string) string {
	u := &url.URL{Scheme: "smb", Host: addr, Path: "/" + share + "/" + w.unique + "/" + dir, RawQuery: query}
	return u.String()
}

func (w *secretsWorld) s3URL(endpoint, dir string) string {
	q := url.Values{"endpoint": {endpoint}, "use_path_style": {"true"}, "region": {"us-east-1"}, "disable_https": {"true"}}
	return "s3://" + w.unique + "/" + dir + "?" + q.Encode()
}

func (w *secretsWorld) azURL(domain string) string {
	return "azblob://" + w.unique + "/sales?" + url.Values{"protocol": {"http"}, "domain": {domain}}.Encode()
}

// baseEnv is what every run gets besides its world's variables: no
// credentials of the machine, no instance metadata lookups.
func (w *secretsWorld) baseEnv() map[string]string {
	return map[string]string{
		"PATH": os.Getenv("PATH"), "HOME": w.home, "TMPDIR": os.TempDir(), "USER": "drsctl-test",
		"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_REGION": "us-east-1",
	}
}

// ---- worlds ----

// upWorld: every server up, every credential right. Every command, in
// every output mode, including a real promote and a real force-unlock.
func (w *secretsWorld) upWorld() {
	t := w.t
	env := w.env
	ctx := context.Background()
	smbAddr, share, smbUser, smbPw := env["DRSCTL_TEST_SMB_ADDR"], env["DRSCTL_TEST_SMB_SHARE"], env["DRSCTL_TEST_SMB_USER"], env["DRSCTL_TEST_SMB_PASSWORD"]
	w.createBuckets(ctx)

	w.writeConfig(odbcDSN(w.west.Addr(), pwWest))
	e := w.baseEnv()
	setAll(e, map[string]string{
		"PRIMARY_DSN":       urlDSN(w.primary.Addr(), pwPrimary),
		"EAST_DSN":          adoDSN(w.east.Addr(), pwEast),
		"WEST_SMB_URL":      (&url.URL{Scheme: "smb", User: url.User(smbUser), Host: smbAddr, Path: "/" + share + "/" + w.unique + "/west", RawQuery: "password_env=WEST_SMB_PASSWORD"}).String(),
		"WEST_SMB_PASSWORD": smbPw,
		"COPY_SMB_URL":      w.smbURL(smbAddr, share, "copy", ""),
		"DRSCTL_SMB_USER":   smbUser, "DRSCTL_SMB_PASSWORD": smbPw,
		"S3_URL":            w.s3URL(env["DRSCTL_TEST_S3_ENDPOINT"], "sales"),
		"AWS_ACCESS_KEY_ID": env["DRSCTL_TEST_S3_ACCESS_KEY"], "AWS_SECRET_ACCESS_KEY": env["DRSCTL_TEST_S3_SECRET_KEY"],
		"AZ_URL":                w.azURL(env["DRSCTL_TEST_AZURE_DOMAIN"]),
		"AZURE_STORAGE_ACCOUNT": env["DRSCTL_TEST_AZURE_ACCOUNT"], "AZURE_STORAGE_KEY": env["DRSCTL_TEST_AZURE_KEY"],
	})

	w.sqlExec(w.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (1, N'one')")
	planFile := filepath.Join(w.dir, "up.plan")
	w.expect(e, 0, "validate")
	w.expect(e, 0, "validate", "-json")
	w.expect(e, 0, "fmt", "-check")
	w.expect(e, 0, "plan", "-out", planFile)
	w.expect(e, 0, "show", planFile)
	w.expect(e, 0, "show", "-json", planFile)
	w.expect(e, 0, "apply", planFile)
	w.expect(e, 0, "-log-level", "debug", "status")
	for _, args := range [][]string{{"status"}, {"status", "-json"}, {"status", "-format", "prometheus"}, {"status", "-check"}} {
		w.expect(e, 0, args...)
	}
	w.sqlExec(w.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (2, N'two')")
	waitLogDue()
	// Only routine work is due (a log backup): the configuration causes
	// nothing, so -detailed-exitcode says 0.
	w.expect(e, 0, "plan", "-detailed-exitcode")
	w.expect(e, 0, "plan", "-json")
	w.expect(e, 0, "-log-level", "debug", "plan", "-json")
	w.expect(e, 0, "-log-level", "debug", "apply", "-auto-approve")
	w.sqlExec(w.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (3, N'three')")
	waitLogDue()
	w.expect(e, 0, "apply", "-auto-approve", "-json")
	waitLogDue()
	w.expect(e, 1, "apply") // changes, no terminal: refuses without -auto-approve
	w.expect(e, 0, "show")
	w.expect(e, 0, "show", "-json")
	w.expect(e, 0, "-log-level", "debug", "graph")
	w.expect(e, 0, "graph", "-refresh=false")
	addrs := strings.Fields(w.expect(e, 0, "state", "list").stdout)
	if len(addrs) < 5 {
		t.Fatalf("state list shows %d addresses after three applies", len(addrs))
	}
	for _, a := range addrs {
		w.expect(e, 0, "state", "show", a)
	}

	// Each other credential form, for a plan and an apply that writes to
	// every destination: Azure by SAS token and by connection string, S3 by
	// a shared credentials file and profile=.
	sasToken, sig := w.azureSAS(env["DRSCTL_TEST_AZURE_ACCOUNT"], env["DRSCTL_TEST_AZURE_KEY"])
	w.plant("azure SAS token (testenv key)", sasToken)
	w.plant("azure SAS signature (testenv key)", sig)
	credFile := filepath.Join(w.home, "aws-credentials")
	os.WriteFile(credFile, []byte(fmt.Sprintf("[drs]\naws_access_key_id = %s\naws_secret_access_key = %s\n", env["DRSCTL_TEST_S3_ACCESS_KEY"], env["DRSCTL_TEST_S3_SECRET_KEY"])), 0o600)
	v := withSAS(e, sasToken, env["DRSCTL_TEST_AZURE_DOMAIN"])
	delete(v, "AWS_ACCESS_KEY_ID")
	delete(v, "AWS_SECRET_ACCESS_KEY")
	v["AWS_SHARED_CREDENTIALS_FILE"] = credFile
	v["S3_URL"] += "&profile=drs"
	w.sqlExec(w.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (4, N'four')")
	waitLogDue()
	w.expect(v, 0, "plan", "-detailed-exitcode")
	w.expect(v, 0, "apply", "-auto-approve")

	connStr := fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=http://%s/%s;",
		env["DRSCTL_TEST_AZURE_ACCOUNT"], env["DRSCTL_TEST_AZURE_KEY"], env["DRSCTL_TEST_AZURE_DOMAIN"], env["DRSCTL_TEST_AZURE_ACCOUNT"])
	w.plant("azure connection string (testenv key)", connStr)
	v = cloneEnv(e)
	delete(v, "AZURE_STORAGE_KEY")
	delete(v, "AZURE_STORAGE_ACCOUNT")
	v["AZURE_STORAGE_CONNECTION_STRING"] = connStr
	w.sqlExec(w.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (5, N'five')")
	waitLogDue()
	w.expect(v, 0, "-log-level", "debug", "apply", "-auto-approve", "-json")

	// Every destination holds the newest log: the credentials worked.
	st := w.readState()
	arts := st.Primaries["sales"].Databases["Sales"].Artifacts
	newest := arts[len(arts)-1].ID
	for _, tn := range []string{"east", "west", "smbcopy", "s3vault", "azvault"} {
		if c := st.Targets[tn].Databases["Sales"].Copies[newest]; c == nil || c.VerifiedAt == nil {
			t.Errorf("target %s has no verified copy of %s: a credential form did not work", tn, newest)
		}
	}

	// The lock file, read while a run holds it, and force-unlock of it.
	w.heldLock(e)
	w.expect(e, 1, "force-unlock", "00000000-0000-0000-0000-000000000000")

	// fmt rewrites a badly formatted file, showing the diff.
	cfgPath := filepath.Join(w.dir, "main.drs.hcl")
	good, _ := os.ReadFile(cfgPath)
	os.WriteFile(cfgPath, bytes.Replace(good, []byte(`  primary      = primary.sales`), []byte(`  primary = primary.sales`), 1), 0o644)
	w.expect(e, 3, "fmt", "-check", "-diff")
	w.expect(e, 0, "fmt", "-diff")
	w.expect(e, 0, "version")

	// Promote last: east gets no more restores afterwards.
	w.expect(e, 1, "promote", "east")
	w.expect(e, 0, "-log-level", "debug", "promote", "east", "-auto-approve")
}

// badAuthWorld: the same servers, every credential wrong (and a few given
// where drsctl refuses to take them).
func (w *secretsWorld) badAuthWorld() {
	env := w.env
	smbAddr, share, smbUser := env["DRSCTL_TEST_SMB_ADDR"], env["DRSCTL_TEST_SMB_SHARE"], env["DRSCTL_TEST_SMB_USER"]
	w.writeConfig(odbcDSN(w.west.Addr(), w.plant("sql west wrong password", "Pw-0e6a51;WRONG-odbc")),
		extraStandby("north", "NORTH_DSN"), extraStandby("south", "SOUTH_DSN"))
	e := w.baseEnv()
	setAll(e, map[string]string{
		"PRIMARY_DSN": urlDSN(w.primary.Addr(), w.plant("sql primary wrong password", "Pw-3b7c0d/WRONG@url+x")),
		"NORTH_DSN":   adoDSN(w.east.Addr(), w.plant("sql north wrong password", "Pw-8a2f64-WRONG-ado")),
		// A string go-mssqldb cannot parse (a URL that does not parse is
		// refused by validate: see badConfigWorld).
		"SOUTH_DSN":         "server=127.0.0.1;port=notaport;user id=sa;password=" + w.plant("sql south password (malformed ADO DSN)", "Pw-4c1d9e-MALFORMED-ado") + ";encrypt=disable",
		"EAST_DSN":          adoDSN(w.east.Addr(), w.plant("sql east wrong password", "Pw-2f8e7d-WRONG-ado")),
		"WEST_SMB_URL":      (&url.URL{Scheme: "smb", User: url.User(smbUser), Host: smbAddr, Path: "/" + share + "/" + w.unique + "/west", RawQuery: "password_env=WEST_SMB_PASSWORD"}).String(),
		"WEST_SMB_PASSWORD": w.plant("smb wrong password (password_env)", "Smb-9d04c6-WRONG-pwenv"),
		"COPY_SMB_URL":      w.smbURL(smbAddr, share, "copy", ""),
		"DRSCTL_SMB_USER":   smbUser, "DRSCTL_SMB_PASSWORD": w.plant("smb wrong password (DRSCTL_SMB_PASSWORD)", "Smb-1e7b2a-WRONG-env"),
		"S3_URL":            w.s3URL(env["DRSCTL_TEST_S3_ENDPOINT"], "sales"),
		"AWS_ACCESS_KEY_ID": w.plant("s3 wrong access key id", "AKIAPLANTED7F3A9C01"), "AWS_SECRET_ACCESS_KEY": w.plant("s3 wrong secret key", "S3-7f3a9c-WRONG-secret-key"),
		"AWS_SESSION_TOKEN":     w.plant("s3 session token", "S3tok-2c9e71-SESSION-TOKEN"),
		"AZ_URL":                w.azURL(env["DRSCTL_TEST_AZURE_DOMAIN"]),
		"AZURE_STORAGE_ACCOUNT": env["DRSCTL_TEST_AZURE_ACCOUNT"],
		"AZURE_STORAGE_KEY":     w.plant("azure wrong account key", base64.StdEncoding.EncodeToString([]byte("Az-7f3a9c-WRONG-KEY-planted-by-TestSecrets"))),
	})
	w.mustSee = append(w.mustSee, "Login failed", "parse connection string")
	w.failingCommands(e, "badauth")

	// Azure by a SAS token that is not valid, and by a connection string
	// carrying one.
	sasToken, sig := w.azureSAS(env["DRSCTL_TEST_AZURE_ACCOUNT"], base64.StdEncoding.EncodeToString([]byte("Az-5e1d0c-WRONG-SAS-signing-key")))
	w.plant("azure wrong SAS token", sasToken)
	w.plant("azure wrong SAS signature", sig)
	v := withSAS(e, sasToken, env["DRSCTL_TEST_AZURE_DOMAIN"])
	w.expect(v, 1, "plan")
	w.expect(v, 1, "apply", "-auto-approve", "-json")
	sasToken2, sig2 := w.azureSAS(env["DRSCTL_TEST_AZURE_ACCOUNT"], base64.StdEncoding.EncodeToString([]byte("Az-a41b77-WRONG-connstr-SAS-key")))
	w.plant("azure SAS signature in a connection string", sig2)
	connStr := fmt.Sprintf("BlobEndpoint=http://%s/%s;SharedAccessSignature=%s", env["DRSCTL_TEST_AZURE_DOMAIN"], env["DRSCTL_TEST_AZURE_ACCOUNT"], sasToken2)
	w.plant("azure connection string with SAS", connStr)
	v = cloneEnv(e)
	delete(v, "AZURE_STORAGE_KEY")
	delete(v, "AZURE_STORAGE_ACCOUNT")
	v["AZURE_STORAGE_CONNECTION_STRING"] = connStr
	w.expect(v, 1, "-log-level", "debug", "plan", "-json")
}

// badConfigWorld: destination URLs, from the environment, that carry
// credentials and do not pass validation: diagnostics describe the URL
// without quoting it.
func (w *secretsWorld) badConfigWorld() {
	// A connection string written in the file, in a block with an error:
	// the diagnostics' snippets show the lines at fault, not their
	// neighbours.
	literal := fmt.Sprintf(`
target "literal" {
  primary      = primary.sales
  kind         = "copy_only"
  connection   = "server=127.0.0.1;user id=sa;password=%s"
  restore_mode = "standby"
  destination { url = "file://{{DIR}}/literal" }
}
`, w.plant("sql password written in the configuration", "Lit-6a5b4c-SECRET-in-file"))
	w.writeConfig(odbcDSN(w.west.Addr(), pwWest), extraTarget("badport", "BAD_URL_1"), extraTarget("badescape", "BAD_URL_2"),
		extraTarget("badscheme", "BAD_URL_3"), extraTarget("filehost", "BAD_URL_4"),
		extraTarget("smbinline", "SMB_INLINE_URL"), extraTarget("s3inline", "S3_INLINE_URL"), extraStandby("south", "SOUTH_DSN"), literal)
	w.inputs["main.drs.hcl"] = true
	defer delete(w.inputs, "main.drs.hcl")
	e := w.baseEnv()
	inlineS3 := w.s3URL(w.env["DRSCTL_TEST_S3_ENDPOINT"], "inline") + "&aws_secret_access_key=" + url.QueryEscape(w.plant("s3 secret in URL query", "S3q-4d8e2f-SECRET-query"))
	inlineS3 = strings.Replace(inlineS3, "s3://", "s3://"+url.UserPassword(w.plant("s3 access key in URL user", "AKIAURLUSER4D8E2F"), w.plant("s3 secret in URL user info", "S3u-91c3aa-SECRET-userinfo")).String()+"@", 1)
	setAll(e, map[string]string{
		"PRIMARY_DSN":  urlDSN(w.primary.Addr(), pwPrimary),
		"EAST_DSN":     adoDSN(w.east.Addr(), pwEast),
		"WEST_SMB_URL": w.smbURL("127.0.0.1:1", "drs", "west", ""), "COPY_SMB_URL": w.smbURL("127.0.0.1:1", "drs", "copy", ""),
		"S3_URL": w.s3URL("http://127.0.0.1:1", "sales"), "AZ_URL": w.azURL("127.0.0.1:1"),
		"BAD_URL_1": "s3://" + w.plant("s3 access key in a bad URL", "AKIABADURL7E6F5A4B") + ":" + w.plant("s3 secret in a bad URL", "S3-7e6f5a-BADPORT-secret") + "@bucket:badport/x",
		"BAD_URL_2": "smb://user:" + w.plant("smb password in a bad URL", "Smb-3e2d1c-BADESCAPE") + "%zz@host/share",
		"BAD_URL_3": "ftp://user:" + w.plant("password in an unsupported URL", "Ftp-5a4b3c-SECRET") + "@host/x",
		"BAD_URL_4": "file://user:" + w.plant("password in a file URL", "File-9c8d7e-SECRET") + "@host/tmp/x",
		// Credentials in URLs that would otherwise work: validate refuses
		// them before anything is backed up.
		"SMB_INLINE_URL": (&url.URL{Scheme: "smb", User: url.UserPassword(w.env["DRSCTL_TEST_SMB_USER"], w.plant("smb password in URL", "Smb-6f5e4d-SECRET-inurl")),
			Host: w.env["DRSCTL_TEST_SMB_ADDR"], Path: "/" + w.env["DRSCTL_TEST_SMB_SHARE"] + "/" + w.unique + "/inline"}).String(),
		"S3_INLINE_URL": inlineS3,
		// A URL that does not parse: go-mssqldb's error would quote all of it.
		"SOUTH_DSN": "sqlserver://sa:" + w.plant("sql south password (malformed URL DSN)", "Pw-4c1d9e-MALFORMED-url") + "@" + w.east.Addr() + "0000:notaport?encrypt=disable",
	})
	w.mustSee = append(w.mustSee, "Invalid URL", "Unsupported URL scheme", "Invalid file URL", "restore_mode on a copy_only target",
		"must not contain a password", "Credentials in URL", "Invalid connection string")
	for _, args := range [][]string{
		{"validate"}, {"validate", "-json"}, {"-log-level", "debug", "plan"}, {"plan", "-json"}, {"apply", "-auto-approve"},
		{"status"}, {"graph"}, {"show"}, {"state", "list"}, {"promote", "west", "-auto-approve"}, {"force-unlock", "x"},
	} {
		w.expect(e, 1, args...)
	}
	w.expect(e, 0, "fmt", "-check")
}

// downWorld: nothing listens where the configuration points.
func (w *secretsWorld) downWorld() {
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			w.t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	w.writeConfig(odbcDSN(closed(), w.plant("sql west password (down)", "Pw-b3e8d2;DOWN-odbc")))
	e := w.baseEnv()
	smbAddr := closed()
	setAll(e, map[string]string{
		"PRIMARY_DSN":       urlDSN(closed(), w.plant("sql primary password (down)", "Pw-64c0fe/DOWN@url+x")),
		"EAST_DSN":          adoDSN(closed(), w.plant("sql east password (down)", "Pw-d71a3b-DOWN-ado")),
		"WEST_SMB_URL":      w.smbURL(smbAddr, "drs", "west", "password_env=WEST_SMB_PASSWORD"),
		"WEST_SMB_PASSWORD": w.plant("smb password (down, password_env)", "Smb-2a6b8c-DOWN-pwenv"),
		"COPY_SMB_URL":      w.smbURL(smbAddr, "drs", "copy", ""),
		"DRSCTL_SMB_USER":   "someone", "DRSCTL_SMB_PASSWORD": w.plant("smb password (down)", "Smb-7c3d9e-DOWN-env"),
		"S3_URL":            w.s3URL("http://"+closed(), "sales"),
		"AWS_ACCESS_KEY_ID": w.plant("s3 access key id (down)", "AKIADOWN5B6C7D8E9F"), "AWS_SECRET_ACCESS_KEY": w.plant("s3 secret key (down)", "S3-5b6c7d-DOWN-secret-key"),
		"AZ_URL":                w.azURL(closed()),
		"AZURE_STORAGE_ACCOUNT": "drsdown",
		"AZURE_STORAGE_KEY":     w.plant("azure account key (down)", base64.StdEncoding.EncodeToString([]byte("Az-0f9e8d-DOWN-KEY-planted-by-TestSecrets"))),
	})
	w.mustSee = append(w.mustSee, "connection refused")
	w.failingCommands(e, "down")
}

// refusingWorld: servers that answer, but only to refuse: a storage
// endpoint that fails every request with an error quoting the request
// back (its URL, SAS and Authorization header included), an SMB share that
// does not exist, SQL Server ports that hang up at once.
func (w *secretsWorld) refusingWorld() {
	var listOK atomic.Bool // then: a destination that lists (empty) and refuses writes
	echo := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query(); listOK.Load() && r.Method == http.MethodGet && (q.Get("list-type") == "2" || q.Get("comp") == "list") {
			rw.Header().Set("Content-Type", "application/xml")
			if q.Get("comp") == "list" {
				io.WriteString(rw, `<?xml version="1.0" encoding="utf-8"?><EnumerationResults><Blobs /><NextMarker /></EnumerationResults>`)
			} else {
				io.WriteString(rw, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`+
					`<KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`)
			}
			return
		}
		var hdr []string
		for k, vs := range r.Header {
			hdr = append(hdr, k+": "+strings.Join(vs, ","))
		}
		sort.Strings(hdr)
		msg := fmt.Sprintf("refused %s %s with %s", r.Method, r.URL.RequestURI(), strings.Join(hdr, "; "))
		var b bytes.Buffer
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>`)
		xmlEscape(&b, msg)
		b.WriteString(`</Message></Error>`)
		rw.Header().Set("Content-Type", "application/xml")
		rw.Header().Set("x-ms-error-code", "AuthorizationFailure")
		rw.WriteHeader(http.StatusForbidden)
		rw.Write(b.Bytes())
	}))
	defer echo.Close()
	hangup, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		w.t.Fatal(err)
	}
	defer hangup.Close()
	go func() {
		for {
			c, err := hangup.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	env := w.env
	smbAddr, smbUser := env["DRSCTL_TEST_SMB_ADDR"], env["DRSCTL_TEST_SMB_USER"]
	w.writeConfig(odbcDSN(hangup.Addr().String(), w.plant("sql west password (refusing)", "Pw-e2f3a4;REFUSED-odbc")))
	e := w.baseEnv()
	setAll(e, map[string]string{
		"PRIMARY_DSN":       urlDSN(hangup.Addr().String(), w.plant("sql primary password (refusing)", "Pw-19ab2c/REFUSED@url+x")),
		"EAST_DSN":          adoDSN(hangup.Addr().String(), w.plant("sql east password (refusing)", "Pw-5d6e7f-REFUSED-ado")),
		"WEST_SMB_URL":      w.smbURL(smbAddr, "no-such-share", "west", "password_env=WEST_SMB_PASSWORD"),
		"WEST_SMB_PASSWORD": env["DRSCTL_TEST_SMB_PASSWORD"],
		"COPY_SMB_URL":      w.smbURL(smbAddr, "no-such-share", "copy", ""),
		"DRSCTL_SMB_USER":   smbUser, "DRSCTL_SMB_PASSWORD": env["DRSCTL_TEST_SMB_PASSWORD"],
		"S3_URL":            w.s3URL(echo.URL, "sales"),
		"AWS_ACCESS_KEY_ID": w.plant("s3 access key id (refusing)", "AKIAREFUSED0A1B2C3D"), "AWS_SECRET_ACCESS_KEY": w.plant("s3 secret key (refusing)", "S3-0a1b2c-REFUSED-secret-key"),
		"AWS_SESSION_TOKEN":     w.plant("s3 session token (refusing)", "S3tok-8f7e6d-REFUSED-TOKEN"),
		"AZ_URL":                w.azURL(strings.TrimPrefix(echo.URL, "http://")),
		"AZURE_STORAGE_ACCOUNT": "drsrefused",
		"AZURE_STORAGE_KEY":     w.plant("azure account key (refusing)", base64.StdEncoding.EncodeToString([]byte("Az-3c4d5e-REFUSED-KEY-planted-by-TestSecrets"))),
	})
	w.mustSee = append(w.mustSee, "refused GET", "Network Name Not Found")
	w.failingCommands(e, "refusing")

	// The SAS token travels in the request URL, which the endpoint quotes.
	sasToken, sig := w.azureSAS("drsrefused", base64.StdEncoding.EncodeToString([]byte("Az-9a8b7c-REFUSED-SAS-signing-key")))
	w.plant("azure SAS token (refusing)", sasToken)
	w.plant("azure SAS signature (refusing)", sig)
	v := withSAS(e, sasToken, strings.TrimPrefix(echo.URL, "http://"))
	w.expect(v, 1, "plan")
	w.expect(v, 1, "-log-level", "debug", "apply", "-auto-approve", "-json")

	// The destinations now list (nothing there) and refuse the uploads
	// apply then makes, quoting the upload request: the refusal reaches
	// apply's report, not only the plan. S3 by a shared credentials file
	// and profile=, Azure by SAS, then both by key.
	listOK.Store(true)
	credFile := filepath.Join(w.home, "aws-credentials-refusing")
	os.WriteFile(credFile, []byte(fmt.Sprintf("[drs]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_session_token = %s\n",
		w.plant("s3 access key id (credentials file)", "AKIAPROFILE6E5D4C3B"), w.plant("s3 secret key (credentials file)", "S3-6e5d4c-PROFILE-secret-key"),
		w.plant("s3 session token (credentials file)", "S3tok-4b3a29-PROFILE-TOKEN"))), 0o600)
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		delete(v, k)
	}
	v["AWS_SHARED_CREDENTIALS_FILE"] = credFile
	v["S3_URL"] += "&profile=drs"
	w.mustSee = append(w.mustSee, "refused PUT")
	w.expect(v, 1, "apply", "-auto-approve")
	w.expect(v, 1, "-log-level", "debug", "apply", "-auto-approve", "-json")
	w.expect(e, 1, "apply", "-auto-approve", "-json")
}

// failingCommands runs every command in a world where servers fail. Exit
// codes are not the point here (a plan that cannot observe is an error);
// what is printed and stored is.
func (w *secretsWorld) failingCommands(e map[string]string, world string) {
	planFile := filepath.Join(w.dir, world+".plan")
	w.expectConcurrently(e, world, [][]string{
		{"plan"}, {"plan", "-json"}, {"-log-level", "debug", "plan", "-detailed-exitcode"}, {"plan", "-out", planFile},
		{"apply", "-auto-approve"}, {"-log-level", "debug", "apply", "-auto-approve", "-json"},
		{"graph"}, {"-log-level", "debug", "graph"},
	})
	for _, args := range [][]string{
		{"validate"}, {"validate", "-json"}, {"fmt", "-check"},
		{"show", planFile}, {"show", "-json", planFile}, {"apply", planFile},
		{"status"}, {"status", "-json"}, {"status", "-format", "prometheus"},
		{"show"}, {"show", "-json"}, {"state", "list"}, {"state", "show", `target.west.database["Sales"]`},
		{"promote", "west", "-auto-approve"}, {"-log-level", "debug", "promote", "west", "-database", "Sales", "-auto-approve"},
		{"force-unlock", "00000000-0000-0000-0000-000000000000"},
	} {
		w.expect(e, -1, args...)
	}
	w.heldLock(e)
}

// heldLock starts a run that holds the state lock, reads the lock file
// while it is held, shows another run waiting for it, and removes it with
// force-unlock.
func (w *secretsWorld) heldLock(e map[string]string) {
	t := w.t
	v := cloneEnv(e)
	v[holdLockEnv] = "1m"
	cmd := exec.Command(w.bin, "-chdir", w.dir, "plan", "-refresh=false")
	cmd.Env = envList(v)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		w.check("plan holding the lock", out.String())
	}()
	lockPath := filepath.Join(w.dir, "drs.state.json.lock")
	var raw []byte
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(lockPath)
		if err == nil && json.Valid(b) {
			raw = b
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no lock file appeared; the holder said:\n%s", out.String())
		}
	}
	w.check("lock file", string(raw))
	w.scanFiles("while the lock is held")
	var info struct{ ID string }
	if err := json.Unmarshal(raw, &info); err != nil || info.ID == "" {
		t.Fatalf("lock file %s: %v", raw, err)
	}
	w.expect(e, 1, "plan", "-refresh=false", "-lock-timeout", "200ms")
	w.expect(e, 0, "force-unlock", info.ID)
}

const holdLockEnv = "DRSCTL_TEST_HOLD_LOCK" // cli.TestHoldLockEnv

// ---- running and checking ----

type secretsRun struct {
	name           string
	stdout, stderr string
	code           int
	took           time.Duration
	err            error
}

// expect runs drsctl with the environment e, checks what it printed and
// every file it may have written, and its exit code (unless want < 0).
func (w *secretsWorld) expect(e map[string]string, want int, args ...string) secretsRun {
	w.t.Helper()
	r := w.drsctl(e, nil, args)
	w.record(r, want)
	return r
}

// expectConcurrently runs commands that refresh all at once, each on its
// own copy of the state (the lock would take them in turn): where servers
// are down, each waits out the storage SDKs' retries.
func (w *secretsWorld) expectConcurrently(e map[string]string, world string, cmds [][]string) {
	w.t.Helper()
	st := w.stateJSON()
	runs := make([]secretsRun, len(cmds))
	var wg sync.WaitGroup
	for i, args := range cmds {
		path := filepath.Join(w.dir, fmt.Sprintf("%s-%d.state.json", world, i))
		if err := os.WriteFile(path, st, 0o644); err != nil {
			w.t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs[i] = w.drsctl(e, []string{"-state", path}, args)
		}()
	}
	wg.Wait()
	for _, r := range runs {
		w.record(r, -1)
	}
}

// drsctl runs one command (safe to call concurrently).
func (w *secretsWorld) drsctl(e map[string]string, globals, args []string) secretsRun {
	r := secretsRun{name: "drsctl " + strings.Join(append(globals, args...), " ")}
	cmd := exec.Command(w.bin, append(append([]string{"-chdir", w.dir, "-no-color"}, globals...), args...)...)
	cmd.Env = envList(e)
	cmd.Stdin = strings.NewReader("")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		r.err = err
		return r
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		<-done
		r.err = fmt.Errorf("did not finish in 3m")
	}
	r.stdout, r.stderr, r.code, r.took = stdout.String(), stderr.String(), cmd.ProcessState.ExitCode(), time.Since(start)
	return r
}

// record checks a finished run: its output, the files, its exit code.
func (w *secretsWorld) record(r secretsRun, want int) {
	t := w.t
	t.Helper()
	if r.err != nil {
		t.Fatalf("%s: %v\n%s%s", r.name, r.err, r.stdout, r.stderr)
	}
	w.runs++
	t.Logf("%s → %d (%s)", r.name, r.code, r.took.Round(time.Millisecond))
	w.seen.WriteString(r.stdout + r.stderr)
	w.check(r.name+": stdout", r.stdout)
	w.check(r.name+": stderr", r.stderr)
	w.scanFiles("after " + r.name)
	if want >= 0 && r.code != want {
		t.Errorf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.name, r.code, want, r.stdout, r.stderr)
	}
}

// scanFiles checks every file drsctl may write: state, its backup and
// temporaries, the lock, plans (and their temporaries), local storage.
func (w *secretsWorld) scanFiles(when string) {
	w.t.Helper()
	filepath.WalkDir(w.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || w.inputs[d.Name()] {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil // a temporary renamed away in the meantime
		}
		rel, _ := filepath.Rel(w.dir, p)
		w.check(rel+" "+when, string(b))
		return nil
	})
}

type needle struct{ label, form, text string }

// needles are the planted values in every form they could be printed in:
// as given, URL-escaped (query and path), and base64 (std and URL
// alphabets) at each of the three alignments inside a longer encoding.
func (w *secretsWorld) needles() []needle {
	if w.needleCh != nil {
		return w.needleCh
	}
	var ns []needle
	seen := map[string]bool{}
	add := func(label, form, text string) {
		if len(text) >= 8 && !seen[text] {
			seen[text] = true
			ns = append(ns, needle{label, form, text})
		}
	}
	for label, v := range w.secrets {
		add(label, "raw", v)
		add(label, "query-escaped", url.QueryEscape(v))
		add(label, "path-escaped", url.PathEscape(v))
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			for pad := 0; pad < 3; pad++ {
				s := enc.EncodeToString(append(make([]byte, pad), v...))
				// Keep the characters that depend on v alone.
				if pad > 0 {
					s = s[4:]
				}
				s = strings.TrimRight(s, "=")
				if len(s) > 4 {
					s = s[:len(s)-4]
				}
				add(label, "base64", s)
			}
		}
	}
	sort.Slice(ns, func(i, j int) bool { return ns[i].label+ns[i].form < ns[j].label+ns[j].form })
	w.needleCh = ns
	return ns
}

// check reports every planted value in text, once per place and value (a
// file keeps a leak for every later scan).
func (w *secretsWorld) check(where, text string) {
	w.t.Helper()
	place, _, _ := strings.Cut(where, " after ")
	place, _, _ = strings.Cut(place, " while ")
	for _, n := range w.needles() {
		if i := strings.Index(text, n.text); i >= 0 {
			if w.reported[place+"\x00"+n.label] {
				continue
			}
			w.reported[place+"\x00"+n.label] = true
			lo, hi := max(i-160, 0), min(i+len(n.text)+80, len(text))
			w.t.Errorf("LEAK of %s (%s) in %s:\n…%s…", n.label, n.form, where, text[lo:hi])
		}
	}
}

// ---- helpers ----

func (w *secretsWorld) readState() *stateView {
	w.t.Helper()
	var st stateView
	if err := json.Unmarshal(w.stateJSON(), &st); err != nil {
		w.t.Fatal(err)
	}
	return &st
}

// stateJSON is the whole ledger (snapshot and journal) as JSON, the form
// state pull prints.
func (w *secretsWorld) stateJSON() []byte {
	w.t.Helper()
	st, err := state.NewLocal(filepath.Join(w.dir, "drs.state.json"), state.LocalOptions{}).Read(context.Background())
	if err != nil || st == nil {
		w.t.Fatalf("read the ledger: %v", err)
	}
	var b bytes.Buffer
	if err := state.Write(st, &b); err != nil {
		w.t.Fatal(err)
	}
	return b.Bytes()
}

// stateView is the part of the state file this test reads.
type stateView struct {
	Primaries map[string]struct {
		Databases map[string]struct {
			Artifacts []struct {
				ID string `json:"id"`
			} `json:"artifacts"`
		} `json:"databases"`
	} `json:"primaries"`
	Targets map[string]struct {
		Databases map[string]struct {
			Copies map[string]*struct {
				VerifiedAt *time.Time `json:"verified_at"`
			} `json:"copies"`
		} `json:"databases"`
	} `json:"targets"`
}

// createBuckets makes this test's S3 bucket and Azure container, with the
// SDKs directly: the gocloud openers read the test process's environment.
func (w *secretsWorld) createBuckets(ctx context.Context) {
	t := w.t
	env := w.env
	s3c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(env["DRSCTL_TEST_S3_ENDPOINT"]), UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: env["DRSCTL_TEST_S3_ACCESS_KEY"], SecretAccessKey: env["DRSCTL_TEST_S3_SECRET_KEY"]}, nil
		})})
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(w.unique)}); err != nil {
		t.Fatalf("create S3 bucket: %v", err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if out, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(w.unique)}); err == nil {
			for _, o := range out.Contents {
				s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(w.unique), Key: o.Key})
			}
		}
		s3c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(w.unique)})
	})
	cred, err := container.NewSharedKeyCredential(env["DRSCTL_TEST_AZURE_ACCOUNT"], env["DRSCTL_TEST_AZURE_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	azc, err := container.NewClientWithSharedKeyCredential(fmt.Sprintf("http://%s/%s/%s", env["DRSCTL_TEST_AZURE_DOMAIN"], env["DRSCTL_TEST_AZURE_ACCOUNT"], w.unique), cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := azc.Create(ctx, nil); err != nil {
		t.Fatalf("create Azure container: %v", err)
	}
	t.Cleanup(func() { azc.Delete(context.Background(), nil) })
}

// azureSAS returns an account SAS token signed with key, and its signature.
func (w *secretsWorld) azureSAS(account, key string) (token, sig string) {
	w.t.Helper()
	cred, err := container.NewSharedKeyCredential(account, key)
	if err != nil {
		w.t.Fatal(err)
	}
	perms := sas.AccountPermissions{Read: true, Write: true, Delete: true, List: true, Add: true, Create: true}
	types := sas.AccountResourceTypes{Service: true, Container: true, Object: true}
	qp, err := sas.AccountSignatureValues{Protocol: sas.ProtocolHTTPSandHTTP, ExpiryTime: time.Now().Add(time.Hour).UTC(),
		Permissions: perms.String(), ResourceTypes: types.String()}.SignWithSharedKey(cred)
	if err != nil {
		w.t.Fatal(err)
	}
	return qp.Encode(), qp.Signature()
}

// withSAS is e with Azure credentials by SAS token instead of account key.
// The endpoint must be given in the environment too: gocloud refuses a URL
// that would send the token elsewhere.
func withSAS(e map[string]string, token, domain string) map[string]string {
	v := cloneEnv(e)
	delete(v, "AZURE_STORAGE_KEY")
	v["AZURE_STORAGE_SAS_TOKEN"] = token
	v["AZURE_STORAGE_DOMAIN"] = domain
	v["AZURE_STORAGE_PROTOCOL"] = "http"
	return v
}

func xmlEscape(b *bytes.Buffer, s string) {
	strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").WriteString(b, s)
}

func setAll(dst, src map[string]string) {
	for k, v := range src {
		dst[k] = v
	}
}

func cloneEnv(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	setAll(c, m)
	return c
}

func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
