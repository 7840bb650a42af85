// Package blob is drsctl's access to backup folders and destinations:
// opening a bucket for a URL (file://, smb://, s3://, azblob://), the key
// layout (the one place artifacts are named), shipping one source to many
// destinations at once with a SHA-256 computed on the way, and verifying what
// arrived.
//
// Buckets are gocloud.dev/blob buckets. file:// is opened here, as a durable
// (fsyncing) fileblob; s3:// and azblob:// here too, on gocloud.dev's
// drivers but with drsctl's HTTP transport (a liveness check on every
// connection), retries (backoff, Retry-After) and S3 credential policy (no
// EC2 instance-metadata probe unless asked). The smb:// driver
// (internal/blob/smbblob) registers itself with blob.DefaultURLMux when
// imported; drsctl imports it in its wiring package.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"regexp"
	"strings"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Open opens a bucket for a drsctl destination or backup folder URL:
//
//   - file:///abs/dir (or file://./rel/dir) opens that directory, creating
//     it if missing; writes are fsynced before they are committed.
//   - s3://bucket/path?… and azblob://container/path?… open the bucket or
//     container with the path as a key prefix ("s3://drs-east/sales" → keys
//     under "sales/").
//   - smb://[user@]host[:port]/share/path opens a directory on an SMB share
//     (see internal/blob/smbblob for credentials).
//
// Query parameters go to the scheme's gocloud.dev driver as it parses them
// (endpoint, use_path_style, region, disable_https, protocol, domain,
// localemu, …); "prefix" adds a further key prefix. On s3:// and azblob://,
// "stall_timeout" (default DefaultStallTimeout) is how long a connection may
// go without a byte moving before the call is retried or failed. Errors
// never contain credentials: the URL is echoed as Redact returns it.
func Open(ctx context.Context, rawURL string) (*blob.Bucket, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open %s: not a URL", Redact(rawURL))
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("open %s: not a URL (file://, smb://, s3:// or azblob://)", Redact(rawURL))
	}
	q := u.Query()
	prefix := q.Get("prefix")
	q.Del("prefix")
	u.RawQuery = q.Encode()

	var b *blob.Bucket
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "." && u.Host != "localhost" {
			return nil, fmt.Errorf("open %s: a file URL has no host: file:///absolute/dir or file://./relative/dir", Redact(rawURL))
		}
		b, err = openFile(ctx, u)
	case "smb":
		// The smb driver takes the share and directory from the path.
		b, err = blob.DefaultURLMux().OpenBucketURL(ctx, u)
	default:
		if p := strings.Trim(u.Path, "/"); p != "" {
			prefix = p + "/" + prefix
		}
		u.Path, u.RawPath = "", ""
		switch u.Scheme {
		case "s3", "azblob":
			// Opened here, not by gocloud.dev's URL openers: drsctl sets the
			// HTTP transport (liveness), retries and, for S3, the
			// instance-metadata policy.
			var stall time.Duration
			if stall, err = stallParam(q); err != nil {
				return nil, fmt.Errorf("open %s: %w", Redact(rawURL), err)
			}
			u.RawQuery = q.Encode()
			if u.Scheme == "s3" {
				b, err = openS3(ctx, u, stall)
			} else {
				b, err = openAzure(ctx, u, stall)
			}
		default:
			b, err = blob.DefaultURLMux().OpenBucketURL(ctx, u)
		}
	}
	if err != nil {
		return nil, redactErr(fmt.Sprintf("open %s", Redact(rawURL)), err, rawURL)
	}
	if prefix != "" {
		b = blob.PrefixedBucket(b, prefix)
	}
	return b, nil
}

// stallParam takes stall_timeout out of q: how long a connection may go
// without moving a byte (DefaultStallTimeout when absent).
func stallParam(q url.Values) (time.Duration, error) {
	v := q.Get("stall_timeout")
	q.Del("stall_timeout")
	if v == "" {
		return DefaultStallTimeout, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("stall_timeout %q: want a positive duration such as 30s or 2m", v)
	}
	return d, nil
}

// secretParam matches query parameter names whose values are secrets.
var secretParam = regexp.MustCompile(`(?i)pass|pwd|secret|token|sig|key|credential|auth|sas`)

// Redact returns rawURL safe to print: the user information (on smb://
// only its password: there the user names the share's account) and the
// values of query parameters that look like secrets (password, secret,
// token, sig, key, …) are replaced by REDACTED. A string that does not
// parse as a URL loses everything between "://" and "@" and its query.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		s := userinfo.ReplaceAllString(rawURL, "://REDACTED@")
		if i := strings.IndexByte(s, '?'); i >= 0 {
			s = s[:i] + "?REDACTED"
		}
		return s
	}
	if u.User != nil {
		if u.Scheme != "smb" {
			// Only smb:// has a user; anywhere else it is a misplaced key.
			u.User = url.User("REDACTED")
		} else if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
		}
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			u.RawQuery = "REDACTED"
		} else {
			for k := range q {
				if secretParam.MatchString(k) {
					q[k] = []string{"REDACTED"}
				}
			}
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

var userinfo = regexp.MustCompile(`://[^/?#]*@`)

// redactErr returns an error "<msg>: <err>" whose text has every secret of
// rawURL taken out. It wraps err (for errors.Is/As and gcerrors.Code) only
// when err's own text held no secret.
func redactErr(msg string, err error, rawURL string) error {
	text := err.Error()
	clean := RedactText(text, rawURL)
	if clean == text {
		return fmt.Errorf("%s: %w", msg, err)
	}
	return &redactedError{msg: msg + ": " + clean, code: gcerrors.Code(err)}
}

// secrets lists the secret substrings of a URL: the password, and the values
// of secret-looking query parameters (raw and decoded).
func secrets(rawURL string) []string {
	var out []string
	add := func(s string) { out = append(out, escapedForms(s)...) }
	if m := userinfo.FindString(rawURL); m != "" {
		info := strings.TrimSuffix(strings.TrimPrefix(m, "://"), "@")
		if i := strings.IndexByte(info, ':'); i >= 0 {
			add(info[i+1:])
			if p, err := url.PathUnescape(info[i+1:]); err == nil {
				add(p)
			}
		}
	}
	if i := strings.IndexByte(rawURL, '?'); i >= 0 {
		q, _ := url.ParseQuery(rawURL[i+1:])
		for k, vs := range q {
			if secretParam.MatchString(k) {
				for _, v := range vs {
					add(v)
				}
			}
		}
	}
	return out
}

type redactedError struct {
	msg  string
	code gcerrors.ErrorCode
}

func (e *redactedError) Error() string { return e.msg }

// IsNotExist reports whether err means the object (or bucket) does not exist.
func IsNotExist(err error) bool {
	if err == nil {
		return false
	}
	var r *redactedError
	if errors.As(err, &r) {
		return r.code == gcerrors.NotFound
	}
	return gcerrors.Code(err) == gcerrors.NotFound || errors.Is(err, fs.ErrNotExist)
}
