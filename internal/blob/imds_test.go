package blob_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"gocloud.dev/blob"

	dblob "github.com/drsctl/drsctl/internal/blob"
)

// fakeIMDS stands in for the instance metadata service of a machine that is
// not on EC2 but has something at the address (other clouds answer 404):
// the SDK's answer to that is the "falling back to IMDSv1" warning.
type fakeIMDS struct {
	conns atomic.Int64
	url   string
}

func newFakeIMDS(t *testing.T) *fakeIMDS {
	f := &fakeIMDS{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NotFound(w, r)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// fakeS3 answers every request with an empty listing, and counts the
// requests that were signed.
func fakeS3(t *testing.T) (endpoint string, signed *atomic.Int64) {
	signed = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256") {
			signed.Add(1)
		}
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, signed
}

// captureStderr returns what is written to os.Stderr while fn runs (the AWS
// SDK's default logger writes there).
func captureStderr(t *testing.T, fn func()) string {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	defer func() {
		os.Stderr = old
	}()
	fn()
	os.Stderr = old
	w.Close()
	return <-done
}

// TestS3_NoInstanceMetadataUnlessAsked: opening and using an s3:// bucket
// never touches the instance metadata service (pointed here at a local
// listener standing in for a non-EC2 machine's 169.254.169.254) and never
// prints the SDK's IMDS warnings — unless the environment asks for IMDS.
func TestS3_NoInstanceMetadataUnlessAsked(t *testing.T) {
	for _, tc := range []struct {
		name        string
		env         map[string]string
		config      string // AWS_CONFIG_FILE contents
		credentials string // AWS_SHARED_CREDENTIALS_FILE contents
		wantIMDS    bool   // the environment asks for IMDS
		wantErr     string // "" when the listing must succeed
	}{
		{name: "static keys in the environment",
			env: map[string]string{"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret-example"}},
		{name: "static keys, defaults mode auto (would probe IMDS for the region)",
			env: map[string]string{"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret-example", "AWS_DEFAULTS_MODE": "auto"}},
		{name: "keys in the shared credentials file",
			credentials: "[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = secret-example\n"},
		{name: "keys in a named profile",
			env:    map[string]string{"AWS_PROFILE": "drs"},
			config: "[profile drs]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = secret-example\n"},
		{name: "no credentials anywhere",
			wantErr: "no AWS credentials"},
		{name: "profile with nothing usable",
			env:     map[string]string{"AWS_PROFILE": "empty"},
			config:  "[profile empty]\nregion = us-east-1\n",
			wantErr: "no AWS credentials"},
		// Control cases: the environment asks for IMDS, and the listener
		// must see it (so the cases above could fail).
		{name: "AWS_EC2_METADATA_DISABLED=false asks for IMDS",
			env: map[string]string{"AWS_EC2_METADATA_DISABLED": "false"}, wantIMDS: true, wantErr: "credentials"},
		{name: "credential_source = Ec2InstanceMetadata asks for IMDS",
			env:    map[string]string{"AWS_PROFILE": "ec2"},
			config: "[profile ec2]\ncredential_source = Ec2InstanceMetadata\nrole_arn = arn:aws:iam::123456789012:role/drs\n", wantIMDS: true, wantErr: "credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			imds := newFakeIMDS(t)
			endpoint, signed := fakeS3(t)
			dir := t.TempDir()
			cfgFile, credFile := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
			os.WriteFile(cfgFile, []byte(tc.config), 0o600)
			os.WriteFile(credFile, []byte(tc.credentials), 0o600)
			for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
				"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
				"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_V1_DISABLED", "AWS_DEFAULTS_MODE",
				"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"} {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
			t.Setenv("AWS_REGION", "us-east-1")
			t.Setenv("AWS_CONFIG_FILE", cfgFile)
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", credFile)
			t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			dblob.SetRetryBase(t, 0)

			var err error
			stderr := captureStderr(t, func() {
				var b *blob.Bucket
				q := url.Values{"endpoint": {endpoint}, "use_path_style": {"true"}, "region": {"us-east-1"}}
				b, err = dblob.Open(context.Background(), "s3://b/sales?"+q.Encode())
				if err != nil {
					return
				}
				defer b.Close()
				_, _, err = b.ListPage(context.Background(), blob.FirstPageToken, 10, nil)
			})

			if got := imds.conns.Load(); (got > 0) != tc.wantIMDS {
				t.Errorf("connections to the instance metadata service: %d, want any: %v", got, tc.wantIMDS)
			}
			if !tc.wantIMDS && strings.Contains(strings.ToLower(stderr), "imds") {
				t.Errorf("stderr mentions IMDS:\n%s", stderr)
			}
			if tc.wantIMDS && !strings.Contains(stderr, "falling back to IMDSv1") {
				// The control: the same capture sees the SDK's warning when
				// IMDS is in use, so its absence above means something.
				t.Errorf("stderr lacks the SDK's IMDS warning when IMDS is asked for:\n%s", stderr)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("list: %v", err)
			case tc.wantErr == "" && signed.Load() == 0:
				t.Error("no signed request reached the S3 server")
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("list: %v, want an error containing %q", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "secret-example") {
				t.Errorf("error shows the secret key: %v", err)
			}
		})
	}
}
