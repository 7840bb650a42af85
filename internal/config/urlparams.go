package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// URLParam is a query parameter a url attribute accepts for one scheme.
type URLParam struct {
	Name string
	// check says what is wrong with a value ("" when it is good), in words
	// that never quote the value: a URL may carry secrets.
	check func(string) string
}

// Check says what is wrong with a value of the parameter, "" when it is
// good (or when any value is).
func (p URLParam) Check(v string) string {
	if p.check == nil {
		return ""
	}
	return p.check(v)
}

// URLParameters lists, per scheme, the query parameters the storage drivers
// accept (internal/blob's Open and openS3/openAzure, gocloud.dev's fileblob
// and azureblob, internal/blob/smbblob), so that validate refuses a URL the
// driver would refuse at apply time — after a full backup was taken. The
// core does not import the drivers: internal/blob's TestURLParameters opens
// a URL with each parameter listed here (and one not listed) to keep this
// table true, and docs/configuration.md describes every one (reference_test.go).
var URLParameters = map[string][]URLParam{
	"file": {
		{"prefix", nil},
		{"create_dir", nil},
		{"no_tmp_dir", nil},
		{"dir_file_mode", fileModeValue},
		{"metadata", oneOf("", "skip")},
		{"base_url", nil},
		{"secret_key_path", nil},
	},
	"smb": {
		{"prefix", nil},
		{"domain", nil},
		{"password_env", envNameValue},
	},
	"s3": {
		{"prefix", nil},
		{"stall_timeout", positiveDurationValue},
		{"region", nil},
		{"endpoint", endpointValue},
		{"profile", nil},
		{"use_path_style", boolValue},
		{"s3ForcePathStyle", boolValue},
		{"hostname_immutable", boolValue},
		{"disable_https", boolValue},
		{"anonymous", boolValue},
		{"role", arnValue},
		{"dualstack", boolValue},
		{"fips", boolValue},
		{"accelerate", boolValue},
		{"ssetype", oneOfFold("AES256", "aws:kms", "aws:kms:dsse")},
		{"kmskeyid", nil},
		{"rate_limiter_capacity", int32Value},
		{"request_checksum_calculation", oneOfFold("when_supported", "when_required")},
		{"response_checksum_validation", oneOfFold("when_supported", "when_required")},
		{"awssdk", nil},
	},
	"azblob": {
		{"prefix", nil},
		{"stall_timeout", positiveDurationValue},
		{"domain", nil},
		{"protocol", oneOf("http", "https")},
		{"cdn", boolValue},
		{"localemu", boolValue},
		{"storage_account", nil},
	},
}

// StateSchemes are the schemes a state url may have: a remote state needs
// an atomic conditional create to lock on, which smb:// lacks.
var StateSchemes = []string{"file", "s3", "azblob"}

func boolValue(v string) string {
	if _, err := strconv.ParseBool(v); err != nil {
		return "must be true or false"
	}
	return ""
}

func positiveDurationValue(v string) string {
	if d, err := time.ParseDuration(v); err != nil || d <= 0 {
		return "must be a positive duration such as 30s or 2m"
	}
	return ""
}

func int32Value(v string) string {
	if _, err := strconv.ParseInt(v, 10, 32); err != nil {
		return "must be a whole number"
	}
	return ""
}

func fileModeValue(v string) string {
	if _, err := strconv.ParseUint(v, 0, 32); err != nil {
		return "must be a file mode such as 0750"
	}
	return ""
}

func arnValue(v string) string {
	if !strings.HasPrefix(v, "arn:") {
		return "must be a role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
	}
	return ""
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func envNameValue(v string) string {
	if !envName.MatchString(v) {
		return "must be the name of an environment variable (letters, digits and underscores), not a password"
	}
	return ""
}

func endpointValue(v string) string {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "must be a URL such as http://minio.internal:9000 or https://s3.example.com"
	}
	if msg := portProblem(u); msg != "" {
		return "has a " + msg
	}
	return ""
}

func oneOf(vs ...string) func(string) string {
	return func(v string) string {
		if slices.Contains(vs, v) {
			return ""
		}
		return "must be " + quotedOr(vs)
	}
}

func oneOfFold(vs ...string) func(string) string {
	return func(v string) string {
		if slices.ContainsFunc(vs, func(c string) bool { return strings.EqualFold(c, v) }) {
			return ""
		}
		return "must be " + quotedOr(vs)
	}
}

// portProblem says what is wrong with a URL's port, "" when it is absent or
// good.
func portProblem(u *url.URL) string {
	if strings.HasSuffix(u.Host, ":") {
		return "port that is empty: remove the colon or give a port from 1 to 65535"
	}
	p := u.Port()
	if p == "" {
		return ""
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("port %s that is out of range 1–65535", p)
	}
	return ""
}

// secretWord matches query parameter names that look like credentials.
var secretWord = regexp.MustCompile(`(?i)pass|pwd|secret|token|sig|key|credential|auth|sas`)

// credentialsHint says where a scheme's credentials go instead of the URL.
var credentialsHint = map[string]string{
	"smb":    "the password goes in DRSCTL_SMB_PASSWORD (or the variable ?password_env=NAME names) and the user in the URL (smb://user@host/share) or DRSCTL_SMB_USER, not in the password part of the URL",
	"s3":     "credentials go in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile (AWS_PROFILE or ?profile=NAME) or a role (?role=ARN), not in the URL",
	"azblob": "credentials go in AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or AZURE_STORAGE_CONNECTION_STRING, not in the URL",
	"file":   "a file:// URL names a local directory and takes no credentials",
}

// article is "a" or "an" before a scheme's URL: "an s3:// URL".
func article(scheme string) string {
	switch scheme {
	case "s3", "smb", "azblob":
		return "an"
	}
	return "a"
}

func capital(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// checkURLDetails checks what the storage driver of u's scheme would refuse
// at open time: credentials in the URL, unknown or malformed query
// parameters, ports, an smb:// URL without a share. Schemes missing from
// URLParameters (a test's KnownSchemes) are not checked.
func checkURLDetails(u *url.URL) *urlError {
	params, known := URLParameters[u.Scheme]
	if !known {
		return nil
	}
	s := u.Scheme
	a := capital(article(s))
	if u.User != nil {
		_, hasPassword := u.User.Password()
		switch {
		case s == "smb" && hasPassword:
			return &urlError{"Password in URL", fmt.Sprintf("%s %s:// URL must not contain a password: %s. A password in a configuration file ends up in version control and in every copy of it.", a, s, credentialsHint[s])}
		case s != "smb":
			return &urlError{"Credentials in URL", fmt.Sprintf("%s %s:// URL takes no user or password before the host: %s.", a, s, credentialsHint[s])}
		}
	}
	if msg := portProblem(u); msg != "" {
		return &urlError{"Invalid port", fmt.Sprintf("The URL has a %s.", msg)}
	}
	switch s {
	case "s3", "azblob":
		if u.Port() != "" {
			how := "?endpoint=http://HOST:PORT&use_path_style=true"
			if s == "azblob" {
				how = "?domain=HOST:PORT&protocol=http&localemu=true"
			}
			what := map[string]string{"s3": "bucket", "azblob": "container"}[s]
			return &urlError{"Port in " + s + ":// URL", fmt.Sprintf("%s %s:// URL's host is the %s name, which has no port. To reach a server at another address, name it in the query: %s://%s/prefix%s.", a, s, what, s, what, how)}
		}
	case "smb":
		segs := strings.FieldsFunc(u.Path, func(r rune) bool { return r == '/' })
		if len(segs) == 0 {
			return &urlError{"URL has no share", "An smb:// URL must name a share after the host: smb://[user@]host[:port]/share/dir."}
		}
		if slices.Contains(segs[1:], ".") || slices.Contains(segs[1:], "..") {
			return &urlError{"Invalid smb URL", "The directory of an smb:// URL must not have \".\" or \"..\" segments: write the directory the way down from the share."}
		}
	}
	names := make([]string, len(params))
	for i, p := range params {
		names[i] = p.Name
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return &urlError{"Invalid URL", "The query of the URL (after ?) is not name=value pairs joined by &: escape % as %25."}
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		i := slices.Index(names, k)
		if i < 0 {
			if secretWord.MatchString(k) {
				return &urlError{"Credentials in URL", fmt.Sprintf("The parameter %q of %s %s:// URL looks like a credential, and %s.", k, article(s), s, credentialsHint[s])}
			}
			return &urlError{"Unknown URL parameter", fmt.Sprintf("Unknown parameter %q for %s %s:// URL.%s %s:// URLs take %s (see docs/configuration.md).", k, article(s), s, didYouMean(k, names), s, strings.Join(names, ", "))}
		}
		if len(q[k]) > 1 {
			return &urlError{"Repeated URL parameter", fmt.Sprintf("The parameter %q is given %d times; give it once.", k, len(q[k]))}
		}
		if msg := params[i].Check(q[k][0]); msg != "" {
			return &urlError{"Invalid URL parameter", fmt.Sprintf("The parameter %q of %s %s:// URL %s.", k, article(s), s, msg)}
		}
	}
	return nil
}
