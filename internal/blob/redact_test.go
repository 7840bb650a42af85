package blob_test

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	dblob "github.com/drsctl/drsctl/internal/blob"
)

// TestRedactText_Credentials: what a server may quote back — a key ID, a
// session token, a SAS signature, URL-escaped or not — goes, from wherever
// the drivers took it (environment, credentials file, URL).
func TestRedactText_Credentials(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "credentials")
	os.WriteFile(creds, []byte("[drs]\naws_access_key_id = AKIAFROMFILE0001\naws_secret_access_key=file-secret-0001\n"), 0o600)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENV0001")
	t.Setenv("AWS_SESSION_TOKEN", "token/with+chars=")
	t.Setenv("AZURE_STORAGE_SAS_TOKEN", "sv=2024-01-01&sp=rl&sig=c2lnbmF0dXJl%2Bb%2F%3D")
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", "BlobEndpoint=http://h/a;AccountKey=a2V5LWZyb20tY29ubnN0cg==")
	t.Setenv("SHARE_PW", "share-pw-0001")

	rawURL := "s3://AKIAINURL0001:url-secret-0001@bucket/p?endpoint=http://h&secret=q-secret-0001"
	text := strings.Join([]string{
		"Credential=AKIAFROMENV0001/20260101/us-east-1/s3/aws4_request",
		"X-Amz-Security-Token: " + url.QueryEscape("token/with+chars="),
		"GET /c?sig=c2lnbmF0dXJl%2Bb%2F%3D&sp=rl",
		"key a2V5LWZyb20tY29ubnN0cg==",
		"Credential=AKIAFROMFILE0001/…",
		"open s3://AKIAINURL0001:url-secret-0001@bucket?secret=q-secret-0001",
		"logon share-pw-0001",
	}, "\n")
	got := dblob.RedactText(text, rawURL, "smb://u@h/share?password_env=SHARE_PW")
	for _, s := range []string{"AKIAFROMENV0001", "token", "c2lnbmF0dXJl", "a2V5LWZyb20tY29ubnN0cg", "AKIAFROMFILE0001", "AKIAINURL0001",
		"url-secret-0001", "q-secret-0001", "share-pw-0001"} {
		if strings.Contains(got, s) {
			t.Errorf("RedactText left %q in:\n%s", s, got)
		}
	}
	if !strings.Contains(got, "logon REDACTED") || !strings.Contains(got, "GET /c?sig=REDACTED&sp=rl") {
		t.Errorf("RedactText took out more than the secrets:\n%s", got)
	}
}

func TestRedact_UserInfoOutsideSMB(t *testing.T) {
	for in, want := range map[string]string{
		"s3://AKIAX:secret@bucket/p":   "s3://REDACTED@bucket/p",
		"azblob://account@container/p": "azblob://REDACTED@container/p",
		"smb://drs:hunter2@fs01/drs":   "smb://drs:REDACTED@fs01/drs",
		"smb://drs@fs01/drs":           "smb://drs@fs01/drs",
	} {
		if got := dblob.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
