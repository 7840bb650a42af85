package blob

import (
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// credentialEnv names the environment variables the storage drivers read
// credentials from: S3 (the AWS SDK), Azure, and internal/blob/smbblob (its
// EnvPassword; password_env names others).
var credentialEnv = []string{
	"AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN",
	"AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGEBLOB_CONNECTIONSTRING",
	"DRSCTL_SMB_PASSWORD",
}

// RedactText takes every storage credential out of s: the secrets of the
// given URLs (as Redact finds them) and the credentials the drivers read
// from the environment and the AWS shared files, each also URL-escaped. An error from an SDK may
// quote what the server answered, and a server (or a proxy) may quote the
// request back, key ID, session token or SAS signature included.
func RedactText(s string, urls ...string) string {
	var secrets []string
	for _, u := range urls {
		secrets = append(secrets, urlSecrets(u)...)
	}
	secrets = append(secrets, envSecrets(urls...)...)
	// Longest first: a token goes whole before its signature does.
	sort.SliceStable(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	for _, x := range secrets {
		s = strings.ReplaceAll(s, x, "REDACTED")
	}
	return s
}

// urlSecrets lists what Redact hides in a URL: the password, the values of
// secret-looking query parameters and, for every scheme but smb:// (where
// it names the share's user), the user name, which gocloud ignores and so
// can only be a misplaced access key.
func urlSecrets(rawURL string) []string {
	out := secrets(rawURL)
	if m := userinfo.FindString(rawURL); m != "" && !strings.HasPrefix(rawURL, "smb:") {
		user, _, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(m, "://"), "@"), ":")
		out = append(out, escapedForms(user)...)
		if u, err := url.PathUnescape(user); err == nil {
			out = append(out, escapedForms(u)...)
		}
	}
	return out
}

// envSecrets lists the credentials in the environment the drivers read,
// with the secret parts of composite ones (a SAS token's signature, a
// connection string's key or SAS), the variables the URLs' password_env
// parameters name, and the keys in the AWS shared files.
func envSecrets(urls ...string) []string {
	names := append([]string(nil), credentialEnv...)
	for _, raw := range urls {
		if i := strings.IndexByte(raw, '?'); i >= 0 {
			if q, err := url.ParseQuery(raw[i+1:]); err == nil && q.Get("password_env") != "" {
				names = append(names, q.Get("password_env"))
			}
		}
	}
	var out []string
	for _, name := range names {
		v := os.Getenv(name)
		if v == "" {
			continue
		}
		out = append(out, escapedForms(v)...)
		for _, part := range strings.Split(v, ";") {
			k, val, ok := strings.Cut(part, "=")
			if !ok {
				continue
			}
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "accountkey", "sharedaccesssignature":
				out = append(out, escapedForms(val)...)
				out = append(out, sasSignature(val)...)
			}
		}
		out = append(out, sasSignature(v)...)
	}
	return append(out, awsFileSecrets()...)
}

// awsFileSecrets lists the keys and tokens in the AWS shared credentials
// and config files, every profile's: the SDK may take them from there.
func awsFileSecrets() []string {
	home, _ := os.UserHomeDir()
	files := []string{os.Getenv("AWS_SHARED_CREDENTIALS_FILE"), os.Getenv("AWS_CONFIG_FILE")}
	if files[0] == "" && home != "" {
		files[0] = filepath.Join(home, ".aws", "credentials")
	}
	if files[1] == "" && home != "" {
		files[1] = filepath.Join(home, ".aws", "config")
	}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if f == "" || err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "aws_access_key_id", "aws_secret_access_key", "aws_session_token":
				out = append(out, escapedForms(strings.TrimSpace(v))...)
			}
		}
	}
	return out
}

// sasSignature is the signature of a SAS token, the part that grants.
func sasSignature(token string) []string {
	q, err := url.ParseQuery(strings.TrimPrefix(token, "?"))
	if err != nil || q.Get("sig") == "" {
		return nil
	}
	return escapedForms(q.Get("sig"))
}

// escapedForms is s as written and URL-escaped; nothing for values too
// short to be told apart from ordinary text.
func escapedForms(s string) []string {
	if len(s) < 3 {
		return nil
	}
	return []string{s, url.QueryEscape(s), url.PathEscape(s)}
}
