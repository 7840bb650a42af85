package blob_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gocloud.dev/blob"

	dblob "github.com/drsctl/drsctl/internal/blob"
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"s3://drs-east/sales?region=us-east-1", "s3://drs-east/sales?region=us-east-1"},
		{"smb://drs@fs01/drs/sales", "smb://drs@fs01/drs/sales"},
		{"smb://drs:hunter2@fs01/drs/sales", "smb://drs:REDACTED@fs01/drs/sales"},
		{"azblob://c/p?sas_token=sv%3D2020%26sig%3Dabc&protocol=http", "azblob://c/p?protocol=http&sas_token=REDACTED"},
		{"s3://b?endpoint=http://h:9000&secret_access_key=abc123", "s3://b?endpoint=http%3A%2F%2Fh%3A9000&secret_access_key=REDACTED"},
		{"smb://u:hunter2@fs 01/%zz?password=x", "smb://REDACTED@fs 01/%zz?REDACTED"},
	}
	for _, tc := range tests {
		got := dblob.Redact(tc.in)
		if got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
		for _, secret := range []string{"hunter2", "abc123", "sig%3Dabc", "sig=abc"} {
			if strings.Contains(got, secret) {
				t.Errorf("Redact(%q) = %q keeps %q", tc.in, got, secret)
			}
		}
	}
}

func TestOpen_ErrorsHideCredentials(t *testing.T) {
	ctx := context.Background()
	for _, raw := range []string{
		"nosuch://user:hunter2@host/x",
		"smb://user:hunter2@127.0.0.1:1/share",
		"smb://127.0.0.1:1/share?password=hunter2",
		"s3://bucket/p?kms_key_id=hunter2&no_such_param=1",
		"file://user:hunter2@host/tmp/x",
		"smb://u:hunter2@fs 01/%zz",
	} {
		b, err := dblob.Open(ctx, raw)
		if err == nil {
			_ = b.Close()
			t.Errorf("Open(%q) succeeded", raw)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) error shows the secret: %v", raw, err)
		}
	}
}

func TestOpen_File(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "not", "yet")
	b, err := dblob.Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const key = "sales/Sales/full/Sales_full_20261125T045500Z.bak"
	if err := b.WriteAll(ctx, key, []byte("backup"), &blob.WriterOptions{Metadata: map[string]string{"sha256": "x"}}); err != nil {
		t.Fatal(err)
	}
	// The key is the path below the directory, as a database server reads it.
	got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(key)))
	if err != nil || string(got) != "backup" {
		t.Fatalf("file on disk: %q, %v", got, err)
	}
	// No temporary files left beside it.
	entries, _ := os.ReadDir(filepath.Dir(filepath.Join(dir, filepath.FromSlash(key))))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	a, err := b.Attributes(ctx, key)
	if err != nil || a.Metadata["sha256"] != "x" {
		t.Errorf("attributes: %+v, %v", a, err)
	}
	if err := b.Copy(ctx, key+".copy", key, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := b.ReadAll(ctx, key+".copy"); err != nil || string(got) != "backup" {
		t.Errorf("copy: %q, %v", got, err)
	}
	// A prefix parameter nests keys further.
	p, err := dblob.Open(ctx, "file://"+dir+"?prefix=sales/")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if ok, err := p.Exists(ctx, "Sales/full/Sales_full_20261125T045500Z.bak"); !ok || err != nil {
		t.Errorf("prefixed bucket: exists %v, %v", ok, err)
	}
}

func TestIsNotExist_FileAndRedacted(t *testing.T) {
	ctx := context.Background()
	b, err := dblob.Open(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Attributes(ctx, "missing"); !dblob.IsNotExist(err) {
		t.Errorf("IsNotExist(%v) = false", err)
	}
}
