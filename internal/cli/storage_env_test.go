package cli_test

import (
	"context"
	"net/url"
	"os"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	gblob "gocloud.dev/blob"

	dblob "github.com/drsctl/drsctl/internal/blob"
)

// useTestStorageCredentials points the storage SDKs' usual environment at
// the test servers (testenv's env) and clears what could override it: the
// gocloud openers read the process environment, as drsctl's users' do.
func useTestStorageCredentials(t *testing.T, env map[string]string) {
	t.Helper()
	if pw, ok := env["DRSCTL_TEST_SMB_PASSWORD"]; ok {
		t.Setenv("DRSCTL_SMB_PASSWORD", pw)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", env["DRSCTL_TEST_S3_ACCESS_KEY"])
	t.Setenv("AWS_SECRET_ACCESS_KEY", env["DRSCTL_TEST_S3_SECRET_KEY"])
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AZURE_STORAGE_ACCOUNT", env["DRSCTL_TEST_AZURE_ACCOUNT"])
	t.Setenv("AZURE_STORAGE_KEY", env["DRSCTL_TEST_AZURE_KEY"])
	for _, k := range []string{"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_SAS_TOKEN"} {
		t.Setenv(k, "") // restored after the test...
		os.Unsetenv(k)  // ...and absent during it
	}
}

// createBucketAndContainer creates the S3 bucket of s3URL and the Azure
// container of azURL on the test servers (each test its own, uniquely
// named), deletes the container when the test ends, and returns the two
// buckets, open until then.
func createBucketAndContainer(t *testing.T, s3URL, azURL string) (s3b, azb *gblob.Bucket) {
	t.Helper()
	ctx := context.Background()
	open := func(u string) *gblob.Bucket {
		b, err := dblob.Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	s3b, azb = open(s3URL), open(azURL)
	var s3c *s3.Client
	if !s3b.As(&s3c) {
		t.Fatal("no s3 client")
	}
	u, err := url.Parse(s3URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(u.Host)}); err != nil {
		t.Fatal(err)
	}
	var azc *container.Client
	if !azb.As(&azc) {
		t.Fatal("no azure container client")
	}
	if _, err := azc.Create(ctx, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { azc.Delete(context.Background(), nil) })
	return s3b, azb
}
