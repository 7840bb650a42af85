package sqlserver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
	"github.com/drsctl/drsctl/internal/testenv"
)

// cloudPlaces makes a fresh S3 bucket and Azure container on the test
// environment's servers and returns their URLs as SQL Server names them
// and the CREATE CREDENTIAL statements a server needs for them.
func cloudPlaces(t *testing.T) (s3Base, azBase string, creds []string) {
	t.Helper()
	env := testenv.Lookup(t, "DRSCTL_TEST_S3_ENDPOINT", "DRSCTL_TEST_S3_ACCESS_KEY", "DRSCTL_TEST_S3_SECRET_KEY",
		"DRSCTL_TEST_AZURE_ENDPOINT", "DRSCTL_TEST_AZURE_DOMAIN", "DRSCTL_TEST_AZURE_ACCOUNT", "DRSCTL_TEST_AZURE_KEY")
	ctx := context.Background()
	name := fmt.Sprintf("engine-url-%d", time.Now().UnixNano())
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(env["DRSCTL_TEST_S3_ENDPOINT"]), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(env["DRSCTL_TEST_S3_ACCESS_KEY"], env["DRSCTL_TEST_S3_SECRET_KEY"], "")})
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatal(err)
	}
	cred, err := azblob.NewSharedKeyCredential(env["DRSCTL_TEST_AZURE_ACCOUNT"], env["DRSCTL_TEST_AZURE_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	svc, err := azblob.NewClientWithSharedKeyCredential(env["DRSCTL_TEST_AZURE_ENDPOINT"], cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateContainer(ctx, name, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.DeleteContainer(context.Background(), name, nil) })
	q, err := sas.BlobSignatureValues{Protocol: sas.ProtocolHTTPSandHTTP, ExpiryTime: time.Now().Add(time.Hour), ContainerName: name,
		Permissions: (&sas.ContainerPermissions{Read: true, Write: true, Delete: true, List: true, Add: true, Create: true}).String()}.SignWithSharedKey(cred)
	if err != nil {
		t.Fatal(err)
	}
	s3Base = "s3://" + strings.TrimPrefix(env["DRSCTL_TEST_S3_ENDPOINT"], "http://") + "/" + name
	azBase = "https://" + env["DRSCTL_TEST_AZURE_DOMAIN"] + "/" + env["DRSCTL_TEST_AZURE_ACCOUNT"] + "/" + name
	creds = []string{
		fmt.Sprintf("CREATE CREDENTIAL %s WITH IDENTITY = 'S3 Access Key', SECRET = %s", quoteIdent(s3Base),
			quoteString(env["DRSCTL_TEST_S3_ACCESS_KEY"]+":"+env["DRSCTL_TEST_S3_SECRET_KEY"])),
		fmt.Sprintf("CREATE CREDENTIAL %s WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = %s", quoteIdent(azBase), quoteString(q.Encode())),
	}
	return s3Base, azBase, creds
}

// TestBackup_ToURL backs up to Azure Blob and S3 through the engine against
// simulators that write the real stores, and restores on a standby from
// the URLs. On Azure the old engine sent INIT (refused for URLs: 3032) and
// the 1 MB default blocks (a block blob of 50,000 of them holds ≈48 GB;
// the simulator's limit is lowered to two blocks so its 2.7 MB backup
// needs 4 MB blocks); on both, a URL already holding a backup was
// overwritten (FORMAT) where a disk file is refused.
func TestBackup_ToURL(t *testing.T) {
	s3Base, azBase, creds := cloudPlaces(t)
	start := func(name string) *sqlsim.Server {
		srv, err := sqlsim.Start(sqlsim.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), LSNBase: bigLSNBase, Name: name,
			Logf: t.Logf, URLPlainHTTP: true, URLMaxChunks: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		return srv
	}
	prim, stby := start("PRIMARY"), start("STANDBY")
	pdb, sdb := openDB(t, prim.DSN("")), openDB(t, stby.DSN(""))
	for _, c := range creds {
		exec(t, pdb, c)
		exec(t, sdb, c)
	}
	exec(t, pdb, "CREATE DATABASE [Sales]")
	p, s := open(t, prim.DSN("")), open(t, stby.DSN(""))
	ctx := context.Background()
	for _, base := range []string{azBase, s3Base} {
		t.Run(base[:strings.Index(base, ":")], func(t *testing.T) {
			insert(t, pdb, "Sales", 1)
			full, log := base+"/Sales/full.bak", base+"/Sales/log.trn"
			fh, err := p.Backup(ctx, engine.BackupRequest{Database: "Sales", Kind: artifact.Full, ServerPath: full, Compression: true}, engine.NoProgress)
			if err != nil {
				t.Fatalf("backup to %s: %v", full, err)
			}
			_, err = p.Backup(ctx, engine.BackupRequest{Database: "Sales", Kind: artifact.Full, ServerPath: full, Compression: true}, engine.NoProgress)
			if !errors.Is(err, fs.ErrExist) {
				t.Fatalf("a second backup to %s: %v, want it refused (fs.ErrExist), not the first overwritten", full, err)
			}
			insert(t, pdb, "Sales", 2)
			lh, err := p.Backup(ctx, engine.BackupRequest{Database: "Sales", Kind: artifact.Log, ServerPath: log, Compression: true}, engine.NoProgress)
			if err != nil {
				t.Fatalf("log backup to %s: %v", log, err)
			}
			if d, err := s.Describe(ctx, full); err != nil || d.LastLSN != fh.LastLSN {
				t.Fatalf("describe %s on the standby: %+v, %v", full, d, err)
			}
			for _, r := range []struct {
				kind artifact.Kind
				path string
			}{{artifact.Full, full}, {artifact.Log, log}} {
				req := engine.RestoreRequest{Database: "Sales", Kind: r.kind, ServerPath: r.path, Mode: engine.StandbyMode, Replace: true,
					DataDir: t.TempDir()}
				if err := s.Restore(ctx, req, engine.NoProgress); err != nil {
					t.Fatalf("restore %s: %v", r.path, err)
				}
			}
			if st := standbyOf(t, s, "Sales"); st.State != engine.Standby || st.RedoLSN != lh.LastLSN {
				t.Errorf("standby after restoring from %s: %+v, want STANDBY at %s", base, st, lh.LastLSN)
			}
		})
	}
}

// TestBackup_ToURLTooLargeForOneURL lowers the bytes one URL holds below
// the database's size: the backup, which would need striping, is refused
// before it starts, saying why and what to do, and nothing is written (the
// old engine ran it, to fail at the end with 3202 on a real server).
func TestBackup_ToURLTooLargeForOneURL(t *testing.T) {
	s3Base, azBase, creds := cloudPlaces(t)
	defer SetURLBytesForTesting(4 << 20)() // the simulator's database files take 8 MB
	srv, err := sqlsim.Start(sqlsim.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Logf: t.Logf, URLPlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	db := openDB(t, srv.DSN(""))
	for _, c := range creds {
		exec(t, db, c)
	}
	exec(t, db, "CREATE DATABASE [Sales]")
	s := open(t, srv.DSN(""))
	for _, base := range []string{azBase, s3Base} {
		u := base + "/Sales/full.bak"
		_, err := s.Backup(context.Background(), engine.BackupRequest{Database: "Sales", Kind: artifact.Full, ServerPath: u}, engine.NoProgress)
		wantContains(t, err, "would need 3 URLs (striping)", "nothing was backed up")
		if _, derr := s.Describe(context.Background(), u); !hasNumber(derr, 3201) {
			t.Errorf("after the refused backup, %s: %v, want nothing there (3201)", u, derr)
		}
	}
}

// TestBackup_SASCredentialIsNeverPassedAsCredential: a configured
// credential that holds a SAS cannot work in WITH CREDENTIAL (the server
// takes it for an account key: 3201, error 86); the engine says so, and
// what the credential must be named, before running anything.
func TestBackup_SASCredentialIsNeverPassedAsCredential(t *testing.T) {
	_, azBase, _ := cloudPlaces(t)
	srv, err := sqlsim.Start(sqlsim.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Logf: t.Logf, URLPlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	db := openDB(t, srv.DSN(""))
	exec(t, db, "CREATE CREDENTIAL [drs-sas] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = 'sv=2020-01-01&sig=x'")
	exec(t, db, "CREATE DATABASE [Sales]")
	s := open(t, srv.DSN(""))
	u := azBase + "/Sales/full.bak"
	_, err = s.Backup(context.Background(), engine.BackupRequest{Database: "Sales", Kind: artifact.Full, ServerPath: u, Credential: "drs-sas"}, engine.NoProgress)
	wantContains(t, err, "never through WITH CREDENTIAL", "named exactly after the container's URL ("+azBase+")")
	err = s.Restore(context.Background(), engine.RestoreRequest{Database: "Sales", Kind: artifact.Full, ServerPath: u, Mode: engine.NoRecovery, Credential: "drs-sas"}, engine.NoProgress)
	wantContains(t, err, "never through WITH CREDENTIAL")
}
