package sqlsim

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/drsctl/drsctl/internal/testenv"
)

// urlEnv is a fresh S3 bucket and Azure container on the test
// environment's servers, with what a SQL Server credential for each holds.
type urlEnv struct {
	s3Base, azBase     string // s3://host:port/bucket, https://host:port/account/container
	s3Secret, azureSAS string
	s3                 *s3.Client
	bucket             string
}

func newURLEnv(t *testing.T) *urlEnv {
	t.Helper()
	env := testenv.Lookup(t, "DRSCTL_TEST_S3_ENDPOINT", "DRSCTL_TEST_S3_ACCESS_KEY", "DRSCTL_TEST_S3_SECRET_KEY",
		"DRSCTL_TEST_AZURE_ENDPOINT", "DRSCTL_TEST_AZURE_DOMAIN", "DRSCTL_TEST_AZURE_ACCOUNT", "DRSCTL_TEST_AZURE_KEY")
	ctx := context.Background()
	name := fmt.Sprintf("sqlsim-url-%d", time.Now().UnixNano())
	e := &urlEnv{bucket: name}

	e.s3 = s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(env["DRSCTL_TEST_S3_ENDPOINT"]), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(env["DRSCTL_TEST_S3_ACCESS_KEY"], env["DRSCTL_TEST_S3_SECRET_KEY"], "")})
	if _, err := e.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatal(err)
	}
	e.s3Base = "s3://" + strings.TrimPrefix(env["DRSCTL_TEST_S3_ENDPOINT"], "http://") + "/" + name
	e.s3Secret = env["DRSCTL_TEST_S3_ACCESS_KEY"] + ":" + env["DRSCTL_TEST_S3_SECRET_KEY"]

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
	e.azureSAS = q.Encode()
	e.azBase = "https://" + env["DRSCTL_TEST_AZURE_DOMAIN"] + "/" + env["DRSCTL_TEST_AZURE_ACCOUNT"] + "/" + name
	return e
}

// credentials creates on a simulator the credentials SQL Server needs: a
// SAS credential named after the container's URL, an S3 one after the bucket's.
func (e *urlEnv) credentials(t *testing.T, db execer) {
	t.Helper()
	mustExec(t, db, fmt.Sprintf("CREATE CREDENTIAL [%s] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = %s", e.azBase, quoteString(e.azureSAS)))
	mustExec(t, db, fmt.Sprintf("CREATE CREDENTIAL [%s] WITH IDENTITY = 'S3 Access Key', SECRET = %s", e.s3Base, quoteString(e.s3Secret)))
}

func (e *urlEnv) incompleteUploads(t *testing.T) int {
	t.Helper()
	out, err := e.s3.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &e.bucket})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Uploads)
}

// TestBackupToURL_RoundTrip backs up to Azure Blob and to S3 and restores
// each on another server in STANDBY, with what the real server refuses on
// the way: no credential (3201, error 50), INIT (3032), an existing blob
// without FORMAT (3271).
func TestBackupToURL_RoundTrip(t *testing.T) {
	e := newURLEnv(t)
	for _, tc := range []struct {
		kind, base, opts string
	}{
		{"azure", e.azBase, ", MAXTRANSFERSIZE = 4194304, BLOCKSIZE = 65536"},
		{"s3", e.s3Base, `, BACKUP_OPTIONS = '{"s3": {"region": "us-east-1"}}'`},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			prim := openDB(t, startSim(t, Options{URLPlainHTTP: true}), "")
			mustExec(t, prim, "CREATE DATABASE [Sales]")
			mustExec(t, prim, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (1, N'one')")
			u := tc.base + "/Sales/full.bak"

			me := sqlErr(t, prim, "BACKUP DATABASE [Sales] TO URL = @p1 WITH FORMAT"+tc.opts, u)
			wantErr(t, me, 3201, 3013)
			wantContains(t, errText(me, 0), "Operating system error 50(The request is not supported.)")

			e.credentials(t, prim)
			wantErr(t, sqlErr(t, prim, "BACKUP DATABASE [Sales] TO URL = @p1 WITH FORMAT, INIT"+tc.opts, u), 3032, 3013)
			mustExec(t, prim, "BACKUP DATABASE [Sales] TO URL = @p1 WITH CHECKSUM, COMPRESSION, FORMAT"+tc.opts+", STATS = 10", u)
			me = sqlErr(t, prim, "BACKUP DATABASE [Sales] TO URL = @p1 WITH CHECKSUM"+tc.opts, u)
			wantErr(t, me, 3271, 3013)
			mustExec(t, prim, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (2, N'two')")
			mustExec(t, prim, "BACKUP LOG [Sales] TO URL = @p1 WITH CHECKSUM, FORMAT"+tc.opts, tc.base+"/Sales/log1.trn")

			if got := queryString(t, prim, "SELECT TOP 1 bmf.physical_device_name FROM msdb.dbo.backupmediafamily AS bmf WHERE bmf.device_type = 9 ORDER BY bmf.media_set_id"); got.String != u {
				t.Errorf("backupmediafamily URL device = %q, want %q", got.String, u)
			}

			sb := openDB(t, startSim(t, Options{URLPlainHTTP: true}), "")
			wantErr(t, sqlErr(t, sb, "RESTORE HEADERONLY FROM URL = @p1", u), 3201, 3013)
			e.credentials(t, sb)
			if typ, db := urlHeader(t, sb, u); typ != 1 || db != "Sales" {
				t.Errorf("HEADERONLY FROM URL: BackupType %d DatabaseName %q, want 1 Sales", typ, db)
			}
			me = sqlErr(t, sb, "RESTORE HEADERONLY FROM URL = @p1", tc.base+"/Sales/missing.bak")
			wantErr(t, me, 3201, 3013)
			wantContains(t, errText(me, 0), "Operating system error 2(")
			undo := filepath.Join(t.TempDir(), "Sales.tuf")
			mustExec(t, sb, "RESTORE DATABASE [Sales] FROM URL = @p1 WITH STANDBY = @p2", u, undo)
			mustExec(t, sb, "RESTORE LOG [Sales] FROM URL = @p1 WITH STANDBY = @p2", tc.base+"/Sales/log1.trn", undo)
			if n := queryInt(t, sb, "SELECT COUNT(*) FROM [Sales].dbo.drs_probe"); n != 2 {
				t.Errorf("standby rows = %d, want 2", n)
			}
		})
	}
}

// urlHeader reads BackupType and DatabaseName from RESTORE HEADERONLY FROM URL.
func urlHeader(t *testing.T, e execer, urls ...string) (int64, string) {
	t.Helper()
	var devs []string
	var args []any
	for i, u := range urls {
		devs = append(devs, fmt.Sprintf("URL = @p%d", i+1))
		args = append(args, u)
	}
	rows, err := e.QueryContext(context.Background(), "RESTORE HEADERONLY FROM "+strings.Join(devs, ", "), args...)
	if err != nil {
		t.Fatalf("HEADERONLY %v: %v", urls, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		t.Fatalf("HEADERONLY %v: no row", urls)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	var typ int64
	var db string
	for i, c := range cols {
		switch c {
		case "BackupType":
			fmt.Sscan(fmt.Sprint(vals[i]), &typ)
		case "DatabaseName":
			db = fmt.Sprint(vals[i])
		}
	}
	return typ, db
}

// TestBackupToURL_Striping lowers the per-URL limit: one URL is too small
// (3202; on S3 the failed upload stays incomplete until aborted), three
// hold the backup, a restore needs all three (3132) in any order.
func TestBackupToURL_Striping(t *testing.T) {
	e := newURLEnv(t)
	for _, base := range []string{e.azBase, e.s3Base} {
		t.Run(base[:strings.Index(base, ":")], func(t *testing.T) {
			srv := startSim(t, Options{URLPlainHTTP: true, URLBlobLimit: 1 << 20})
			db := openDB(t, srv, "")
			e.credentials(t, db)
			mustExec(t, db, "CREATE DATABASE [Sales]")
			mustExec(t, db, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (1, N'one')")
			before := e.incompleteUploads(t)
			me := sqlErr(t, db, "BACKUP DATABASE [Sales] TO URL = @p1 WITH FORMAT", base+"/one.bak")
			wantErr(t, me, 3202, 3013)
			if after := e.incompleteUploads(t); strings.HasPrefix(base, "s3") && after != before+1 {
				t.Errorf("incomplete multipart uploads after a failed S3 backup: %d, want %d", after, before+1)
			}
			s1, s2, s3u := base+"/s1.bak", base+"/s2.bak", base+"/s3.bak"
			mustExec(t, db, "BACKUP DATABASE [Sales] TO URL = @p1, URL = @p2, URL = @p3 WITH FORMAT", s1, s2, s3u)
			me = sqlErr(t, db, "RESTORE HEADERONLY FROM URL = @p1, URL = @p2", s1, s2)
			wantErr(t, me, 3132, 3013)
			if typ, name := urlHeader(t, db, s3u, s1, s2); typ != 1 || name != "Sales" {
				t.Errorf("HEADERONLY of the three stripes: %d %q", typ, name)
			}
			if n := queryInt(t, db, "SELECT COUNT(*) FROM msdb.dbo.backupmediafamily WHERE device_type = 9"); n != 3 {
				t.Errorf("backupmediafamily rows for the striped backup = %d, want 3", n)
			}
			mustExec(t, db, "DROP DATABASE [Sales]")
			mustExec(t, db, "RESTORE DATABASE [Sales] FROM URL = @p1, URL = @p2, URL = @p3 WITH RECOVERY", s2, s3u, s1)
			if n := queryInt(t, db, "SELECT COUNT(*) FROM [Sales].dbo.drs_probe"); n != 1 {
				t.Errorf("restored rows = %d, want 1", n)
			}
		})
	}
}

// TestBackupToURL_AzureBlockLimit: a block blob holds a fixed number of
// blocks of MAXTRANSFERSIZE (1 MB by default), so a backup that outgrows
// them at the default fits at 4 MB; MAXTRANSFERSIZE must be a multiple of
// 64 KB up to 4 MB.
func TestBackupToURL_AzureBlockLimit(t *testing.T) {
	e := newURLEnv(t)
	db := openDB(t, startSim(t, Options{URLPlainHTTP: true, URLMaxChunks: 2}), "")
	e.credentials(t, db)
	mustExec(t, db, "CREATE DATABASE [Sales]")
	wantErr(t, sqlErr(t, db, "BACKUP DATABASE [Sales] TO URL = @p1 WITH FORMAT", e.azBase+"/a.bak"), 3202, 3013)
	wantErr(t, sqlErr(t, db, "BACKUP DATABASE [Sales] TO URL = @p1 WITH FORMAT, MAXTRANSFERSIZE = 8388608", e.azBase+"/a.bak"), 50000, 3013)
	mustExec(t, db, "BACKUP DATABASE [Sales] TO URL = @p1 WITH FORMAT, MAXTRANSFERSIZE = 4194304, BLOCKSIZE = 65536", e.azBase+"/a.bak")
}

// TestBackupToURL_Credentials: the credential whose name is the longest
// prefix of the URL is the one used; DROP CREDENTIAL removes it (15151 when
// there is none); a SAS credential passed as CREDENTIAL = is taken for an
// account key and fails (86); more than 64 URLs are refused (3205).
func TestBackupToURL_Credentials(t *testing.T) {
	e := newURLEnv(t)
	db := openDB(t, startSim(t, Options{URLPlainHTTP: true}), "")
	e.credentials(t, db)
	mustExec(t, db, "CREATE DATABASE [Sales]")
	deeper := e.azBase + "/Sales"
	mustExec(t, db, fmt.Sprintf("CREATE CREDENTIAL [%s] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = 'sv=2020-01-01&sig=bad'", deeper))
	wantErr(t, sqlErr(t, db, fmt.Sprintf("CREATE CREDENTIAL [%s] WITH IDENTITY = 'x', SECRET = 'y'", deeper)), 15025)
	if n := queryInt(t, db, "SELECT COUNT(*) FROM sys.credentials WHERE credential_identity = 'SHARED ACCESS SIGNATURE'"); n != 2 {
		t.Errorf("SAS credentials in sys.credentials: %d, want 2", n)
	}
	u := deeper + "/full.bak"
	me := sqlErr(t, db, "BACKUP DATABASE [Sales] TO URL = @p1 WITH FORMAT", u)
	wantErr(t, me, 3201, 3013)
	wantContains(t, errText(me, 0), "Operating system error 5(Access is denied.)")
	if strings.Contains(me.Error(), "sig=") {
		t.Errorf("the error shows the SAS: %v", me)
	}
	mustExec(t, db, fmt.Sprintf("DROP CREDENTIAL [%s]", deeper))
	wantErr(t, sqlErr(t, db, fmt.Sprintf("DROP CREDENTIAL [%s]", deeper)), 15151)
	mustExec(t, db, "BACKUP DATABASE [Sales] TO URL = @p1 WITH FORMAT", u)

	me = sqlErr(t, db, "RESTORE HEADERONLY FROM URL = @p1 WITH CREDENTIAL = @p2", u, e.azBase)
	wantErr(t, me, 3201, 3013)
	wantContains(t, errText(me, 0), "Operating system error 86(")

	var urls []string
	for i := 0; i < 65; i++ {
		urls = append(urls, fmt.Sprintf("URL = N'%s/s%d.bak'", e.azBase, i))
	}
	wantErr(t, sqlErr(t, db, "BACKUP DATABASE [Sales] TO "+strings.Join(urls, ", ")+" WITH FORMAT"), 3205, 3013)
}
