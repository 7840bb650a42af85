package blob_test

import (
	"context"
	"encoding/base64"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/drsctl/drsctl/internal/blob"
	_ "github.com/drsctl/drsctl/internal/blob/smbblob" // registers smb://
	"github.com/drsctl/drsctl/internal/config"
)

// paramRefused matches the drivers' errors for a query parameter they do
// not take (internal/blob, smbblob, gocloud.dev's fileblob and azureblob) or
// a value they cannot parse.
var paramRefused = regexp.MustCompile(`unknown query parameter|invalid query parameter|invalid value for|invalid dir_file_mode|unsupported value for query parameter|stall_timeout|invalid protocol`)

// TestURLParameters keeps config.URLParameters — what validate accepts in
// a url's query, without importing the drivers — true to the drivers: each
// parameter listed for a scheme, with a value config accepts, is taken by
// the scheme's driver when apply opens the URL; a parameter not listed is
// refused by the driver too, so validate refusing it refuses nothing apply
// would take. Nothing here connects: opening a bucket does not.
func TestURLParameters(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-example")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AZURE_STORAGE_ACCOUNT", "drsctltest")
	t.Setenv("AZURE_STORAGE_KEY", base64.StdEncoding.EncodeToString([]byte("not-a-real-key")))
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	// values are good values for parameters whose value is checked; any
	// other parameter gets "x".
	values := map[string]url.Values{
		"*": {
			"stall_timeout": {"30s"}, "endpoint": {"http://127.0.0.1:1"}, "role": {"arn:aws:iam::123456789012:role/drs"},
			"ssetype": {"AES256"}, "rate_limiter_capacity": {"10"}, "request_checksum_calculation": {"when_supported"},
			"response_checksum_validation": {"when_required"}, "protocol": {"https"}, "dir_file_mode": {"0750"},
			"metadata": {"skip"}, "password_env": {"SHARE_PW"},
		},
		// fileblob wants base_url and secret_key_path together.
		"base_url":        {"base_url": {"http://localhost/"}, "secret_key_path": {keyFile}},
		"secret_key_path": {"base_url": {"http://localhost/"}, "secret_key_path": {keyFile}},
	}
	bools := []string{"use_path_style", "s3ForcePathStyle", "hostname_immutable", "disable_https", "anonymous", "dualstack", "fips", "accelerate", "cdn", "localemu", "create_dir", "no_tmp_dir"}
	base := func(scheme string) string {
		switch scheme {
		case "file":
			return "file://" + filepath.ToSlash(t.TempDir())
		case "smb":
			return "smb://drs@127.0.0.1/share/dir"
		}
		return scheme + "://bucket/prefix"
	}
	open := func(raw string) error {
		b, err := blob.Open(context.Background(), raw)
		if err == nil {
			b.Close()
		}
		return err
	}
	for _, scheme := range config.DefaultSchemes {
		params := config.URLParameters[scheme]
		if len(params) == 0 {
			t.Errorf("config.URLParameters has no %s:// entry", scheme)
		}
		for _, p := range params {
			q := values[p.Name]
			if q == nil {
				v := values["*"].Get(p.Name)
				if v == "" {
					v = "x"
				}
				if slices.Contains(bools, p.Name) {
					v = "true"
				}
				q = url.Values{p.Name: {v}}
			}
			for k, vs := range q {
				if msg := configParam(scheme, k).Check(vs[0]); msg != "" {
					t.Fatalf("%s:// %s=%s: config says it %s", scheme, k, vs[0], msg)
				}
			}
			raw := base(scheme) + "?" + q.Encode()
			if err := open(raw); err != nil && paramRefused.MatchString(err.Error()) {
				t.Errorf("config accepts %s for %s:// URLs, but the driver refuses it: %v", p.Name, scheme, err)
			}
		}
		if err := open(base(scheme) + "?no_such_param=1"); err == nil || !paramRefused.MatchString(err.Error()) {
			t.Errorf("%s:// driver takes a parameter config.URLParameters does not list (no_such_param): %v", scheme, err)
		}
	}
	// prefix and stall_timeout are taken by blob.Open; only s3:// and
	// azblob:// have a stall timeout.
	for _, scheme := range []string{"file", "smb"} {
		if err := open(base(scheme) + "?stall_timeout=30s"); err == nil {
			t.Errorf("%s:// driver takes stall_timeout, which config refuses for it", scheme)
		}
	}
}

func configParam(scheme, name string) config.URLParam {
	for _, p := range config.URLParameters[scheme] {
		if p.Name == name {
			return p
		}
	}
	return config.URLParam{}
}
