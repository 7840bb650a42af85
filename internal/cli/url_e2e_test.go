package cli_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/drsctl/drsctl/internal/engine/sqlserver"
	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
	"github.com/drsctl/drsctl/internal/testenv"
	"github.com/drsctl/drsctl/internal/wiring"
)

// TestSQLServer_StandbyRestoredFromTheCloud ships to an S3 destination and
// an Azure Blob destination, and two STANDBY targets restore from them
// through the servers' own BACKUP/RESTORE … URL (server_path an s3:// and
// an https:// URL, credentials named as SQL Server requires) — the
// destinations are no longer copy-only.
func TestSQLServer_StandbyRestoredFromTheCloud(t *testing.T) {
	env := testenv.Lookup(t, "DRSCTL_TEST_S3_ENDPOINT", "DRSCTL_TEST_S3_ACCESS_KEY", "DRSCTL_TEST_S3_SECRET_KEY",
		"DRSCTL_TEST_AZURE_DOMAIN", "DRSCTL_TEST_AZURE_ACCOUNT", "DRSCTL_TEST_AZURE_KEY")
	useTestStorageCredentials(t, env)
	unique := fmt.Sprintf("drsctl-url-%d", time.Now().UnixNano())
	s3q := url.Values{"endpoint": {env["DRSCTL_TEST_S3_ENDPOINT"]}, "use_path_style": {"true"}, "region": {"us-east-1"}, "disable_https": {"true"}}
	s3URL := "s3://" + unique + "/sales?" + s3q.Encode()
	azURL := "azblob://" + unique + "/sales?" + url.Values{"protocol": {"http"}, "domain": {env["DRSCTL_TEST_AZURE_DOMAIN"]}}.Encode()
	createBucketAndContainer(t, s3URL, azURL)

	// What each standby server reads: its own URL for the same place.
	s3Bucket := "s3://" + strings.TrimPrefix(env["DRSCTL_TEST_S3_ENDPOINT"], "http://") + "/" + unique
	azContainer := "https://" + env["DRSCTL_TEST_AZURE_DOMAIN"] + "/" + env["DRSCTL_TEST_AZURE_ACCOUNT"] + "/" + unique

	h := &harness{t: t, dir: t.TempDir(), clock: time.Now().UTC()}
	h.engines = wiring.Engines()
	start := func(name string) *sqlsim.Server {
		s, err := sqlsim.Start(sqlsim.Options{Addr: "127.0.0.1:0", DataDir: filepath.Join(h.dir, name+"-sim"), Name: strings.ToUpper(name),
			URLPlainHTTP: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	sh := &sqlHarness{harness: h, primary: start("primary"), east: start("s3sb"), west: start("azsb")}
	for _, d := range []string{"share", "s3-data", "az-data"} {
		os.MkdirAll(filepath.Join(h.dir, d), 0o755)
	}
	// The SQL Server credentials: S3 by the bucket's URL, Azure a SAS
	// credential named exactly after the container's URL.
	if err := sh.exec(sh.east, fmt.Sprintf("CREATE CREDENTIAL [%s] WITH IDENTITY = 'S3 Access Key', SECRET = '%s:%s'",
		s3Bucket, env["DRSCTL_TEST_S3_ACCESS_KEY"], env["DRSCTL_TEST_S3_SECRET_KEY"])); err != nil {
		t.Fatal(err)
	}
	if err := sh.exec(sh.west, fmt.Sprintf("CREATE CREDENTIAL [%s] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = '%s'",
		azContainer, containerSAS(t, env, unique))); err != nil {
		t.Fatal(err)
	}

	cfg := fmt.Sprintf(`
backup_folder "share" {
  url = "file://%[1]s/share"
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
target "s3sb" {
  primary      = primary.sales
  connection   = env("EAST_DSN")
  restore_mode = "standby"
  data_dir     = "%[1]s/s3-data"
  destination {
    url         = %[2]q
    server_path = %[3]q
  }
}
target "azsb" {
  primary      = primary.sales
  connection   = env("WEST_DSN")
  restore_mode = "standby"
  data_dir     = "%[1]s/az-data"
  destination {
    url         = %[4]q
    server_path = %[5]q
  }
}
`, h.dir, s3URL, s3Bucket+"/sales", azURL, azContainer+"/sales")
	if err := os.WriteFile(filepath.Join(h.dir, "main.drs.hcl"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := sh.exec(sh.primary, "CREATE DATABASE [Sales]"); err != nil {
		t.Fatal(err)
	}
	sh.exec(sh.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (1, N'one')")
	if code := sh.apply(); code != 0 {
		t.Fatalf("seed apply exit %d", code)
	}
	sh.exec(sh.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (2, N'two')")
	waitLogDue()
	if code := sh.apply(); code != 0 {
		t.Fatalf("log apply exit %d", code)
	}
	st := sh.state()
	arts := st.Primaries["sales"].Databases["Sales"].Artifacts
	if len(arts) != 2 {
		t.Fatalf("artifacts: %d, want a full and a log", len(arts))
	}
	last := arts[len(arts)-1]
	for _, tc := range []struct {
		target string
		srv    *sqlsim.Server
		base   string
	}{{"s3sb", sh.east, s3Bucket}, {"azsb", sh.west, azContainer}} {
		if got := sh.rows(tc.srv, "Sales"); fmt.Sprint(got) != "[1 2]" {
			t.Errorf("%s: standby rows = %v, want [1 2]", tc.target, got)
		}
		r := st.Targets[tc.target].Databases["Sales"].Restored
		if r == nil || r.Artifact != last.ID || r.LastLSN != last.LastLSN || r.Mode != "standby" {
			t.Errorf("%s: restored = %+v, want %s (LSN %s) in standby", tc.target, r, last.ID, last.LastLSN)
		}
		// The server restored from the cloud copy: msdb says which device.
		dev := restoredDevice(t, tc.srv)
		if !strings.HasPrefix(dev, tc.base+"/sales/") {
			t.Errorf("%s: restored from %q, want a URL under %s/sales/", tc.target, dev, tc.base)
		}
	}
}

// restoredDevice is the device of the last backup a server restored.
func restoredDevice(t *testing.T, s *sqlsim.Server) string {
	t.Helper()
	db, err := sql.Open("sqlserver", s.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var dev string
	err = db.QueryRow(`SELECT TOP 1 bmf.physical_device_name FROM msdb.dbo.restorehistory AS rh
JOIN msdb.dbo.backupset AS bs ON bs.backup_set_id = rh.backup_set_id
JOIN msdb.dbo.backupmediafamily AS bmf ON bmf.media_set_id = bs.media_set_id
ORDER BY rh.restore_history_id DESC`).Scan(&dev)
	if err != nil {
		t.Fatal(err)
	}
	return dev
}

// containerSAS is a SAS token for a container of the test Azurite (read,
// write, delete, list: what backup and restore need), without the '?'.
func containerSAS(t *testing.T, env map[string]string, container string) string {
	t.Helper()
	cred, err := azblob.NewSharedKeyCredential(env["DRSCTL_TEST_AZURE_ACCOUNT"], env["DRSCTL_TEST_AZURE_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	q, err := sas.BlobSignatureValues{Protocol: sas.ProtocolHTTPSandHTTP, ExpiryTime: time.Now().Add(time.Hour), ContainerName: container,
		Permissions: (&sas.ContainerPermissions{Read: true, Write: true, Delete: true, List: true, Add: true, Create: true}).String()}.SignWithSharedKey(cred)
	if err != nil {
		t.Fatal(err)
	}
	return q.Encode()
}

// TestSQLServer_FailedS3BackupLeavesNoIncompleteUpload: a primary whose
// backup folder is S3 (the server backs up TO URL) fails a backup that
// outgrows its URLs (the simulator's limit lowered); SQL Server's S3
// connector leaves a multipart upload incomplete per URL, and drsctl
// aborts them all: for one URL, and for a backup striped across three
// (the old code left the other two until they were a day old).
func TestSQLServer_FailedS3BackupLeavesNoIncompleteUpload(t *testing.T) {
	t.Run("one URL", func(t *testing.T) { failedS3Backup(t, "drsctl-mpu", 1<<20) })
	t.Run("three stripes", func(t *testing.T) {
		t.Cleanup(sqlserver.SetURLBytesForTesting(4 << 20))
		failedS3Backup(t, "drsctl-smpu", 512<<10)
	})
}

// failedS3Backup: an apply whose backup to an S3 backup folder fails with
// 3202 (each URL holds blobLimit bytes at most) leaves no incomplete
// multipart upload in the bucket.
func failedS3Backup(t *testing.T, prefix string, blobLimit int64) {
	env := testenv.Lookup(t, "DRSCTL_TEST_S3_ENDPOINT", "DRSCTL_TEST_S3_ACCESS_KEY", "DRSCTL_TEST_S3_SECRET_KEY",
		"DRSCTL_TEST_AZURE_DOMAIN", "DRSCTL_TEST_AZURE_ACCOUNT", "DRSCTL_TEST_AZURE_KEY")
	useTestStorageCredentials(t, env)
	unique := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
	s3q := url.Values{"endpoint": {env["DRSCTL_TEST_S3_ENDPOINT"]}, "use_path_style": {"true"}, "region": {"us-east-1"}, "disable_https": {"true"}}
	folderURL := "s3://" + unique + "/share?" + s3q.Encode()
	azURL := "azblob://" + unique + "/x?" + url.Values{"protocol": {"http"}, "domain": {env["DRSCTL_TEST_AZURE_DOMAIN"]}}.Encode()
	s3b, _ := createBucketAndContainer(t, folderURL, azURL)
	var c *s3.Client
	if !s3b.As(&c) {
		t.Fatal("no s3 client")
	}
	bucketURL := "s3://" + strings.TrimPrefix(env["DRSCTL_TEST_S3_ENDPOINT"], "http://") + "/" + unique

	h := &harness{t: t, dir: t.TempDir(), clock: time.Now().UTC()}
	h.engines = wiring.Engines()
	prim, err := sqlsim.Start(sqlsim.Options{Addr: "127.0.0.1:0", DataDir: filepath.Join(h.dir, "primary-sim"), Name: "PRIMARY",
		URLPlainHTTP: true, URLBlobLimit: blobLimit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prim.Close() })
	sh := &sqlHarness{harness: h, primary: prim, east: prim, west: prim}
	if err := sh.exec(prim, fmt.Sprintf("CREATE CREDENTIAL [%s] WITH IDENTITY = 'S3 Access Key', SECRET = '%s:%s'",
		bucketURL, env["DRSCTL_TEST_S3_ACCESS_KEY"], env["DRSCTL_TEST_S3_SECRET_KEY"])); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
backup_folder "cloud" {
  url         = %[2]q
  server_path = %[3]q
}
primary "sales" {
  engine        = "sqlserver"
  connection    = env("PRIMARY_DSN")
  databases     = ["Sales"]
  backup_folder = backup_folder.cloud
  full_backup { every = "24h" }
  log_backup { every = "1s" }
  rpo = "1h"
}
target "vault" {
  primary = primary.sales
  kind    = "copy_only"
  destination { url = "file://%[1]s/vault" }
}
`, h.dir, folderURL, bucketURL+"/share")
	if err := os.WriteFile(filepath.Join(h.dir, "main.drs.hcl"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := sh.exec(prim, "CREATE DATABASE [Sales]"); err != nil {
		t.Fatal(err)
	}
	if code := sh.apply(); code == 0 {
		t.Fatal("apply succeeded; the backup should have outgrown the lowered URL limit")
	}
	if !strings.Contains(h.stderr.String()+h.stdout.String(), "3202") {
		t.Errorf("apply output does not carry the server's 3202")
	}
	ups, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &unique})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range ups.Uploads {
		t.Errorf("incomplete multipart upload left in the backup folder's bucket: %s", *u.Key)
	}
}

// TestSQLServer_BackupToURLThenStandbyFromURL: the primary backs up TO URL
// into an S3 backup folder (FORMAT, no INIT), drsctl reads it there and
// ships it to an Azure Blob destination, and a STANDBY target restores
// FROM URL there: the whole path through the cloud, a second time for the
// log backup.
func TestSQLServer_BackupToURLThenStandbyFromURL(t *testing.T) {
	env := testenv.Lookup(t, "DRSCTL_TEST_S3_ENDPOINT", "DRSCTL_TEST_S3_ACCESS_KEY", "DRSCTL_TEST_S3_SECRET_KEY",
		"DRSCTL_TEST_AZURE_DOMAIN", "DRSCTL_TEST_AZURE_ACCOUNT", "DRSCTL_TEST_AZURE_KEY")
	useTestStorageCredentials(t, env)
	unique := fmt.Sprintf("drsctl-b2u-%d", time.Now().UnixNano())
	s3q := url.Values{"endpoint": {env["DRSCTL_TEST_S3_ENDPOINT"]}, "use_path_style": {"true"}, "region": {"us-east-1"}, "disable_https": {"true"}}
	folderURL := "s3://" + unique + "/share?" + s3q.Encode()
	azURL := "azblob://" + unique + "/dr?" + url.Values{"protocol": {"http"}, "domain": {env["DRSCTL_TEST_AZURE_DOMAIN"]}}.Encode()
	createBucketAndContainer(t, folderURL, azURL)
	bucketURL := "s3://" + strings.TrimPrefix(env["DRSCTL_TEST_S3_ENDPOINT"], "http://") + "/" + unique
	containerURL := "https://" + env["DRSCTL_TEST_AZURE_DOMAIN"] + "/" + env["DRSCTL_TEST_AZURE_ACCOUNT"] + "/" + unique

	h := &harness{t: t, dir: t.TempDir(), clock: time.Now().UTC()}
	h.engines = wiring.Engines()
	start := func(name string) *sqlsim.Server {
		s, err := sqlsim.Start(sqlsim.Options{Addr: "127.0.0.1:0", DataDir: filepath.Join(h.dir, name+"-sim"), Name: strings.ToUpper(name), URLPlainHTTP: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	sh := &sqlHarness{harness: h, primary: start("primary"), east: start("east")}
	sh.west = sh.east
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
}
primary "sales" {
  engine        = "sqlserver"
  connection    = env("PRIMARY_DSN")
  databases     = ["Sales"]
  backup_folder = backup_folder.cloud
  full_backup { every = "24h" }
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
	if code := sh.apply(); code != 0 {
		t.Fatalf("seed apply exit %d", code)
	}
	sh.exec(sh.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (2, N'two')")
	waitLogDue()
	if code := sh.apply(); code != 0 {
		t.Fatalf("log apply exit %d", code)
	}
	if got := sh.rows(sh.east, "Sales"); fmt.Sprint(got) != "[1 2]" {
		t.Errorf("standby rows = %v, want [1 2]", got)
	}
	if dev := restoredDevice(t, sh.east); !strings.HasPrefix(dev, containerURL+"/dr/") {
		t.Errorf("restored from %q, want a URL under %s/dr/", dev, containerURL)
	}
}
