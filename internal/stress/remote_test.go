package stress

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	gblob "gocloud.dev/blob"

	dblob "github.com/drsctl/drsctl/internal/blob"
	_ "github.com/drsctl/drsctl/internal/wiring" // the storage drivers drsctl has
)

// remoteEnv is the SMB, S3 and Azure Blob test servers scripts/testenv.sh
// starts (their addresses come from .testenv/env through the environment).
type remoteEnv struct {
	smbAddr, smbShare, smbUser, smbDir string
	s3Endpoint, azDomain               string
}

// remoteVars are the variables a remote world needs.
var remoteVars = []string{"DRSCTL_TEST_SMB_ADDR", "DRSCTL_TEST_SMB_SHARE", "DRSCTL_TEST_SMB_USER", "DRSCTL_TEST_SMB_PASSWORD", "DRSCTL_TEST_SMB_DIR",
	"DRSCTL_TEST_S3_ENDPOINT", "DRSCTL_TEST_S3_ACCESS_KEY", "DRSCTL_TEST_S3_SECRET_KEY",
	"DRSCTL_TEST_AZURE_DOMAIN", "DRSCTL_TEST_AZURE_ACCOUNT", "DRSCTL_TEST_AZURE_KEY"}

// remote is the test servers, or nil when they are not configured (then
// every world is file:// only). TestMain sets it.
var remote *remoteEnv

// loadRemote reads the test servers' addresses and puts their credentials
// where drsctl (and this test process) read them: each storage's usual
// environment variables. nil when any is missing.
func loadRemote() *remoteEnv {
	v := map[string]string{}
	for _, k := range remoteVars {
		if v[k] = os.Getenv(k); v[k] == "" {
			return nil
		}
	}
	set := map[string]string{
		"DRSCTL_SMB_PASSWORD": v["DRSCTL_TEST_SMB_PASSWORD"],
		"AWS_ACCESS_KEY_ID":   v["DRSCTL_TEST_S3_ACCESS_KEY"], "AWS_SECRET_ACCESS_KEY": v["DRSCTL_TEST_S3_SECRET_KEY"],
		"AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AZURE_STORAGE_ACCOUNT": v["DRSCTL_TEST_AZURE_ACCOUNT"], "AZURE_STORAGE_KEY": v["DRSCTL_TEST_AZURE_KEY"],
	}
	for k, val := range set {
		os.Setenv(k, val)
	}
	for _, k := range []string{"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_SAS_TOKEN"} {
		os.Unsetenv(k)
	}
	return &remoteEnv{smbAddr: v["DRSCTL_TEST_SMB_ADDR"], smbShare: v["DRSCTL_TEST_SMB_SHARE"], smbUser: v["DRSCTL_TEST_SMB_USER"],
		smbDir: v["DRSCTL_TEST_SMB_DIR"], s3Endpoint: v["DRSCTL_TEST_S3_ENDPOINT"], azDomain: v["DRSCTL_TEST_AZURE_DOMAIN"]}
}

var worldSeq atomic.Int64

// targets puts west's destination on the SMB share (the simulator restores
// from the share's directory, as a Windows standby would from its UNC
// path) and adds copy-only targets in an S3 bucket and an Azure container
// of the world's own, removed when the test ends.
func (r *remoteEnv) targets(t testing.TB, file []target, retention string) []target {
	t.Helper()
	ctx := context.Background()
	unique := fmt.Sprintf("drsctl-stress-%d-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9, worldSeq.Add(1))

	smbDir := filepath.Join(r.smbDir, unique)
	t.Cleanup(func() { os.RemoveAll(smbDir) })
	var out []target
	for _, tg := range file {
		if tg.name == "west" {
			tg.url = (&url.URL{Scheme: "smb", User: url.User(r.smbUser), Host: r.smbAddr, Path: "/" + r.smbShare + "/" + unique + "/west"}).String()
			tg.dir = filepath.Join(smbDir, "west")
			tg.server = tg.dir
		}
		out = append(out, tg)
	}

	s3q := url.Values{"endpoint": {r.s3Endpoint}, "use_path_style": {"true"}, "region": {"us-east-1"}, "disable_https": {"true"}}
	s3URL := "s3://" + unique + "/vault?" + s3q.Encode()
	b, err := dblob.Open(ctx, s3URL)
	if err != nil {
		t.Fatal(err)
	}
	var s3c *s3.Client
	if !b.As(&s3c) {
		t.Fatal("no S3 client")
	}
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(unique)}); err != nil {
		t.Fatalf("create bucket %s: %v", unique, err)
	}
	t.Cleanup(func() {
		emptyBucket(s3URL)
		s3c.DeleteBucket(context.Background(), &s3.DeleteBucketInput{Bucket: aws.String(unique)})
		b.Close()
	})
	out = append(out, target{name: "s3vault", url: s3URL, retention: retention})

	azURL := "azblob://" + unique + "/vault?" + url.Values{"protocol": {"http"}, "domain": {r.azDomain}}.Encode()
	ab, err := dblob.Open(ctx, azURL)
	if err != nil {
		t.Fatal(err)
	}
	var azc *container.Client
	if !ab.As(&azc) {
		t.Fatal("no Azure container client")
	}
	if _, err := azc.Create(ctx, nil); err != nil {
		t.Fatalf("create container %s: %v", unique, err)
	}
	t.Cleanup(func() {
		azc.Delete(context.Background(), nil)
		ab.Close()
	})
	out = append(out, target{name: "azvault", url: azURL, retention: retention})
	return out
}

// emptyBucket deletes every object under a URL (best effort).
func emptyBucket(u string) {
	ctx := context.Background()
	b, err := dblob.Open(ctx, u)
	if err != nil {
		return
	}
	defer b.Close()
	it := b.List(nil)
	for {
		obj, err := it.Next(ctx)
		if err != nil {
			return
		}
		b.Delete(ctx, obj.Key)
	}
}

// scanURL is scan for an object store: every object under the URL by key,
// with its size and SHA-256 (a partial upload is never an object).
func scanURL(u string) (map[string]file, int, error) {
	ctx := context.Background()
	b, err := dblob.Open(ctx, u)
	if err != nil {
		return nil, 0, err
	}
	defer b.Close()
	files := map[string]file{}
	temps := 0
	it := b.List(&gblob.ListOptions{})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return files, temps, err
		}
		base := obj.Key[strings.LastIndexByte(obj.Key, '/')+1:]
		switch {
		case obj.IsDir, base == ".drsctl-keep":
			continue
		case strings.Contains(base, ".tmp"):
			temps++
			continue
		}
		r, err := b.NewReader(ctx, obj.Key, nil)
		if err != nil {
			return files, temps, err
		}
		h := sha256.New()
		n, err := io.Copy(h, r)
		r.Close()
		if err != nil {
			return files, temps, err
		}
		files[obj.Key] = file{size: n, sum: hex.EncodeToString(h.Sum(nil))}
	}
	return files, temps, nil
}
