package blob_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/s3blob"

	dblob "github.com/drsctl/drsctl/internal/blob"
	"github.com/drsctl/drsctl/internal/blob/blobtest"
	_ "github.com/drsctl/drsctl/internal/blob/smbblob"
	"github.com/drsctl/drsctl/internal/testenv"
)

// The destination conformance suite, against every kind of destination:
// a local directory, and the real servers scripts/testenv.sh starts.

func unique(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

func open(t *testing.T, rawURL string) *blob.Bucket {
	t.Helper()
	b, err := dblob.Open(context.Background(), rawURL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return b
}

// emptyBucket deletes every object (for backends whose "bucket" is a
// directory on a shared server).
func emptyBucket(t *testing.T, b *blob.Bucket) {
	ctx := context.Background()
	it := b.List(nil)
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Errorf("cleanup: list: %v", err)
			return
		}
		if err := b.Delete(ctx, o.Key); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
}

func TestConformance_File(t *testing.T) {
	blobtest.Run(t, blobtest.Backend{
		Name: "file",
		NewBucket: func(t *testing.T) *blob.Bucket {
			b := open(t, "file://"+t.TempDir()+"/dest")
			t.Cleanup(func() { _ = b.Close() })
			return b
		},
		Metadata: true,
	})
}

func TestConformance_SMB(t *testing.T) {
	env := testenv.Lookup(t, "DRSCTL_TEST_SMB_ADDR", "DRSCTL_TEST_SMB_SHARE", "DRSCTL_TEST_SMB_USER", "DRSCTL_TEST_SMB_PASSWORD")
	smbURL := func(addr string) string {
		u := url.URL{Scheme: "smb", User: url.User(env["DRSCTL_TEST_SMB_USER"]), Host: addr,
			Path: "/" + env["DRSCTL_TEST_SMB_SHARE"] + "/" + unique("blobtest")}
		return u.String()
	}
	blobtest.Run(t, blobtest.Backend{
		Name: "smb",
		NewBucket: func(t *testing.T) *blob.Bucket {
			t.Setenv("DRSCTL_SMB_PASSWORD", env["DRSCTL_TEST_SMB_PASSWORD"])
			t.Setenv("DRSCTL_SMB_DOMAIN", "")
			b := open(t, smbURL(env["DRSCTL_TEST_SMB_ADDR"]))
			t.Cleanup(func() { emptyBucket(t, b); _ = b.Close() })
			return b
		},
		Metadata: true,
		Unreachable: func(t *testing.T) *blob.Bucket {
			b := open(t, smbURL("127.0.0.1:1"))
			t.Cleanup(func() { _ = b.Close() })
			return b
		},
	})
}

// s3Env sets exactly the AWS variables the tests need, whatever the
// machine's environment says.
func s3Env(t *testing.T, env map[string]string) {
	t.Setenv("AWS_ACCESS_KEY_ID", env["DRSCTL_TEST_S3_ACCESS_KEY"])
	t.Setenv("AWS_SECRET_ACCESS_KEY", env["DRSCTL_TEST_S3_SECRET_KEY"])
	t.Setenv("AWS_REGION", "us-east-1")
	for _, k := range []string{"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
}

func s3URL(bucket, prefix, endpoint string) string {
	q := url.Values{"endpoint": {endpoint}, "use_path_style": {"true"}, "region": {"us-east-1"}, "disable_https": {"true"}}
	return "s3://" + bucket + "/" + prefix + "?" + q.Encode()
}

func TestConformance_S3(t *testing.T) {
	env := testenv.Lookup(t, "DRSCTL_TEST_S3_ENDPOINT", "DRSCTL_TEST_S3_ACCESS_KEY", "DRSCTL_TEST_S3_SECRET_KEY")
	// The unreachable sink is retried five times: from 50 ms, not 1 s.
	dblob.SetRetryBase(t, 50*time.Millisecond)
	blobtest.Run(t, blobtest.Backend{
		Name: "s3",
		NewBucket: func(t *testing.T) *blob.Bucket {
			s3Env(t, env)
			ctx := context.Background()
			name := unique("drsctl-test")
			b := open(t, s3URL(name, "dest", env["DRSCTL_TEST_S3_ENDPOINT"]))
			var client *s3.Client
			if !b.As(&client) {
				t.Fatal("s3 bucket does not expose its *s3.Client")
			}
			if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
				t.Fatalf("create bucket %s: %v", name, err)
			}
			t.Cleanup(func() {
				emptyBucket(t, b)
				// Whatever an aborted test left outside the prefix, too.
				whole := open(t, s3URL(name, "", env["DRSCTL_TEST_S3_ENDPOINT"]))
				emptyBucket(t, whole)
				_ = whole.Close()
				if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)}); err != nil {
					t.Errorf("cleanup: delete bucket %s: %v", name, err)
				}
				_ = b.Close()
			})
			return b
		},
		ConditionalCreate: true,
		Metadata:          true,
		Unreachable: func(t *testing.T) *blob.Bucket {
			s3Env(t, env)
			b := open(t, s3URL("nowhere", "", "http://127.0.0.1:1"))
			t.Cleanup(func() { _ = b.Close() })
			return b
		},
	})
}

func TestConformance_Azure(t *testing.T) {
	env := testenv.Lookup(t, "DRSCTL_TEST_AZURE_DOMAIN", "DRSCTL_TEST_AZURE_ACCOUNT", "DRSCTL_TEST_AZURE_KEY")
	dblob.SetRetryBase(t, 50*time.Millisecond)
	blobtest.Run(t, blobtest.Backend{
		Name: "azblob",
		NewBucket: func(t *testing.T) *blob.Bucket {
			t.Setenv("AZURE_STORAGE_ACCOUNT", env["DRSCTL_TEST_AZURE_ACCOUNT"])
			t.Setenv("AZURE_STORAGE_KEY", env["DRSCTL_TEST_AZURE_KEY"])
			for _, k := range []string{"AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGEBLOB_CONNECTIONSTRING", "AZURE_STORAGE_SAS_TOKEN",
				"AZURE_STORAGE_DOMAIN", "AZURE_STORAGE_PROTOCOL", "AZURE_STORAGE_IS_CDN", "AZURE_STORAGE_IS_LOCAL_EMULATOR"} {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
			ctx := context.Background()
			name := unique("drsctl-test")
			q := url.Values{"protocol": {"http"}, "domain": {env["DRSCTL_TEST_AZURE_DOMAIN"]}}
			b := open(t, "azblob://"+name+"/dest?"+q.Encode())
			var client *container.Client
			if !b.As(&client) {
				t.Fatal("azblob bucket does not expose its *container.Client")
			}
			if _, err := client.Create(ctx, nil); err != nil {
				t.Fatalf("create container %s: %v", name, err)
			}
			t.Cleanup(func() {
				if _, err := client.Delete(ctx, nil); err != nil {
					t.Errorf("cleanup: delete container %s: %v", name, err)
				}
				_ = b.Close()
			})
			return b
		},
		ConditionalCreate: true,
		Metadata:          true,
	})
}

// The path of an s3:// URL is a key prefix within the bucket.
func TestOpen_S3PathIsPrefix(t *testing.T) {
	env := testenv.Lookup(t, "DRSCTL_TEST_S3_ENDPOINT", "DRSCTL_TEST_S3_ACCESS_KEY", "DRSCTL_TEST_S3_SECRET_KEY")
	s3Env(t, env)
	ctx := context.Background()
	name := unique("drsctl-test")
	whole := open(t, s3URL(name, "", env["DRSCTL_TEST_S3_ENDPOINT"]))
	defer whole.Close()
	var client *s3.Client
	if !whole.As(&client) {
		t.Fatal("no *s3.Client")
	}
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		emptyBucket(t, whole)
		_, _ = client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)})
	}()
	sales := open(t, s3URL(name, "east/sales", env["DRSCTL_TEST_S3_ENDPOINT"]))
	defer sales.Close()
	if err := sales.WriteAll(ctx, "Sales/log/a.trn", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if ok, err := whole.Exists(ctx, "east/sales/Sales/log/a.trn"); !ok || err != nil {
		t.Errorf("key not under the URL's path: exists %v, %v", ok, err)
	}
}
