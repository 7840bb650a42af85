package cli_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/engine/sqlserver"
	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
	"github.com/drsctl/drsctl/internal/testenv"
	"github.com/drsctl/drsctl/internal/wiring"
)

// TestSQLServer_StripedBackupThroughItsWholeLife: a primary backing up TO
// URL into an S3 backup folder, whose full needs three URLs (the engine's
// per-URL size and the simulator's both lowered: 8 MB of data files
// estimated against 4 MB a URL, a 2.7 MB backup against 1 MB a URL). The
// full is striped across three; the ledger records each stripe's key,
// size and SHA-256; apply ships every stripe to an Azure destination and a
// STANDBY target restores from all three; a stripe deleted at the
// destination makes the copy missing and it is shipped again; the next
// full's retention prunes every stripe, in the backup folder and at the
// destination. The old engine refused the backup ("drsctl does not do
// yet").
func TestSQLServer_StripedBackupThroughItsWholeLife(t *testing.T) {
	env := testenv.Lookup(t, "DRSCTL_TEST_S3_ENDPOINT", "DRSCTL_TEST_S3_ACCESS_KEY", "DRSCTL_TEST_S3_SECRET_KEY",
		"DRSCTL_TEST_AZURE_DOMAIN", "DRSCTL_TEST_AZURE_ACCOUNT", "DRSCTL_TEST_AZURE_KEY")
	useTestStorageCredentials(t, env)
	t.Cleanup(sqlserver.SetURLBytesForTesting(4 << 20))
	unique := fmt.Sprintf("drsctl-stripe-%d", time.Now().UnixNano())
	s3q := url.Values{"endpoint": {env["DRSCTL_TEST_S3_ENDPOINT"]}, "use_path_style": {"true"}, "region": {"us-east-1"}, "disable_https": {"true"}}
	folderURL := "s3://" + unique + "/share?" + s3q.Encode()
	azURL := "azblob://" + unique + "/dr?" + url.Values{"protocol": {"http"}, "domain": {env["DRSCTL_TEST_AZURE_DOMAIN"]}}.Encode()
	folder, dest := createBucketAndContainer(t, folderURL, azURL)
	bucketURL := "s3://" + strings.TrimPrefix(env["DRSCTL_TEST_S3_ENDPOINT"], "http://") + "/" + unique
	containerURL := "https://" + env["DRSCTL_TEST_AZURE_DOMAIN"] + "/" + env["DRSCTL_TEST_AZURE_ACCOUNT"] + "/" + unique

	h := &harness{t: t, dir: t.TempDir(), clock: time.Now().UTC()}
	h.engines = wiring.Engines()
	// drsctl and the simulators on one clock, moved on to pass retention.
	var skew atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	start := func(name string) *sqlsim.Server {
		s, err := sqlsim.Start(sqlsim.Options{Addr: "127.0.0.1:0", DataDir: filepath.Join(h.dir, name+"-sim"), Name: strings.ToUpper(name),
			URLPlainHTTP: true, URLBlobLimit: 1 << 20, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	sh := &sqlHarness{harness: h, primary: start("primary"), east: start("east")}
	sh.west = sh.east
	apply := func() int {
		t.Helper()
		e := sh.envFor()
		e.Now = clock
		code := e.Apply(context.Background(), h.globals(), cli.ApplyOptions{AutoApprove: true, Refresh: true, Parallelism: 4})
		t.Logf("apply → %d\n%s\n%s", code, h.stdout.String(), h.stderr.String())
		return code
	}
	os.MkdirAll(filepath.Join(h.dir, "east-data"), 0o755)
	if err := sh.exec(sh.primary, fmt.Sprintf("CREATE CREDENTIAL [%s] WITH IDENTITY = 'S3 Access Key', SECRET = '%s:%s'",
		bucketURL, env["DRSCTL_TEST_S3_ACCESS_KEY"], env["DRSCTL_TEST_S3_SECRET_KEY"])); err != nil {
		t.Fatal(err)
	}
	if err := sh.exec(sh.east, fmt.Sprintf("CREATE CREDENTIAL [%s] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = '%s'",
		containerURL, containerSAS(t, env, unique))); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
backup_folder "cloud" {
  url         = %[2]q
  server_path = %[3]q
  retention   = "2h"
}
primary "sales" {
  engine        = "sqlserver"
  connection    = env("PRIMARY_DSN")
  databases     = ["Sales"]
  backup_folder = backup_folder.cloud
  full_backup { every = "1h" }
  log_backup { every = "1s" }
  rpo = "1h"
}
target "east" {
  primary      = primary.sales
  connection   = env("EAST_DSN")
  restore_mode = "standby"
  data_dir     = "%[1]s/east-data"
  destination {
    url         = %[4]q
    server_path = %[5]q
    retention   = "2h"
  }
}
`, h.dir, folderURL, bucketURL+"/share", azURL, containerURL+"/dr")
	if err := os.WriteFile(filepath.Join(h.dir, "main.drs.hcl"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := sh.exec(sh.primary, "CREATE DATABASE [Sales]"); err != nil {
		t.Fatal(err)
	}
	sh.exec(sh.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (1, N'one')")
	if code := apply(); code != 0 {
		t.Fatalf("seed apply exit %d", code)
	}
	ctx := context.Background()
	st := sh.state()
	full := st.Primaries["sales"].Databases["Sales"].Artifacts[0]
	if full.Kind != artifact.Full || full.Stripes != 3 || len(full.More) != 2 {
		t.Fatalf("the full in the ledger: %s striped across %d, %d stripes recorded after the first; want a full across 3", full.Kind, full.Stripes, len(full.More))
	}
	files := full.Files()
	for i, f := range files {
		if want := artifact.StripePath(full.Key, i+1, 3); f.Key != want || f.Size <= 0 || len(f.SHA256) != 64 {
			t.Errorf("stripe %d in the ledger: %+v, want %s with its size and SHA-256", i+1, f, want)
		}
		for what, b := range map[string]interface {
			Exists(context.Context, string) (bool, error)
		}{"backup folder": folder, "destination": dest} {
			if ok, err := b.Exists(ctx, f.Key); !ok || err != nil {
				t.Errorf("stripe %s in the %s: %v, %v", f.Key, what, ok, err)
			}
		}
	}
	if got := sh.rows(sh.east, "Sales"); fmt.Sprint(got) != "[1]" {
		t.Errorf("standby rows after the striped seed = %v, want [1]", got)
	}
	if c := st.Targets["east"].Databases["Sales"].Copies[full.ID]; c == nil {
		t.Errorf("no copy of %s recorded at east", full.ID)
	}

	// One stripe lost at the destination: the copy is not there any more,
	// and it is shipped again whole.
	if err := dest.Delete(ctx, files[2].Key); err != nil {
		t.Fatal(err)
	}
	sh.exec(sh.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (2, N'two')")
	waitLogDue()
	if code := apply(); code != 0 {
		t.Fatalf("apply after a stripe was lost: exit %d", code)
	}
	if ok, err := dest.Exists(ctx, files[2].Key); !ok || err != nil {
		t.Errorf("the lost stripe %s was not shipped again: %v, %v", files[2].Key, ok, err)
	}
	if got := sh.rows(sh.east, "Sales"); fmt.Sprint(got) != "[1 2]" {
		t.Errorf("standby rows = %v, want [1 2]", got)
	}

	// Three hours on: a new full, and the striped one is past retention
	// everywhere: every stripe goes.
	for range 3 {
		skew.Add(int64(time.Hour))
		sh.exec(sh.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (3, N'three')")
		waitLogDue()
		if code := apply(); code != 0 {
			t.Fatalf("apply an hour on: exit %d", code)
		}
	}
	for _, f := range files {
		for what, b := range map[string]interface {
			Exists(context.Context, string) (bool, error)
		}{"backup folder": folder, "destination": dest} {
			if ok, err := b.Exists(ctx, f.Key); ok || err != nil {
				t.Errorf("stripe %s still in the %s after its retention: %v, %v", f.Key, what, ok, err)
			}
		}
	}
}
