package config

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// urlAttr decodes and checks a url attribute: it must parse, have a scheme
// among the known ones, and name a host (a bucket, a server) unless it is a
// file:// URL, which must name a local path. Details never quote the URL
// itself: it may come from env() and carry credentials.
func (l *loader) urlAttr(attr *hcl.Attribute) (raw string, u *url.URL, set bool, diags hcl.Diagnostics) {
	raw, set, diags = l.nonEmptyStr(attr)
	if !set || diags.HasErrors() {
		return raw, nil, set, diags
	}
	u, err := l.checkURL(raw)
	if err != nil {
		return raw, nil, true, diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  err.summary,
			Detail:   err.detail,
			Subject:  attr.Expr.Range().Ptr(),
			Context:  attr.Range.Ptr(),
		})
	}
	return raw, u, true, diags
}

type urlError struct{ summary, detail string }

func (l *loader) checkURL(raw string) (*url.URL, *urlError) {
	const examples = "such as file:///var/backups, smb://server/share/dir or s3://bucket/prefix"
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, &urlError{"Invalid URL", fmt.Sprintf("The value is not a URL (%s): %s.", examples, err)}
	}
	if u.Scheme == "" || len(u.Scheme) == 1 {
		hint := ""
		switch {
		case len(u.Scheme) == 1 || strings.HasPrefix(raw, `\\`):
			hint = " It looks like a Windows path: that belongs in server_path; url is how drsctl reaches the folder (file:///C:/dir or smb://server/share/dir)."
		case strings.HasPrefix(raw, "/"):
			hint = " For a local directory write file://" + "/path/to/dir."
		}
		return nil, &urlError{"URL has no scheme", fmt.Sprintf("The value must be a URL with a scheme (%s), %s.%s", strings.Join(l.schemes, ", "), examples, hint)}
	}
	if !slices.Contains(l.schemes, u.Scheme) {
		return nil, &urlError{"Unsupported URL scheme", fmt.Sprintf("The URL scheme %q is not supported; use one of %s.%s", u.Scheme, strings.Join(l.schemes, ", "), didYouMean(u.Scheme, l.schemes))}
	}
	if u.Opaque != "" {
		return nil, &urlError{"Invalid URL", fmt.Sprintf("A %s URL must be written %s://host/path.", u.Scheme, u.Scheme)}
	}
	if u.Scheme == "file" {
		if u.Host != "" && u.Host != "localhost" && u.Host != "." {
			return nil, &urlError{"Invalid file URL", fmt.Sprintf("A file URL names a local path, but this one names the host %q: write file:///absolute/path (three slashes) or file://./relative/path.", u.Host)}
		}
		if strings.Trim(u.Path, "/") == "" {
			return nil, &urlError{"Invalid file URL", "A file URL must name a directory, such as file:///var/backups."}
		}
	} else if u.Host == "" || strings.HasPrefix(u.Host, ":") {
		return nil, &urlError{"URL has no host", fmt.Sprintf("%s %s:// URL must name a host or bucket: %s://host/path.", capital(article(u.Scheme)), u.Scheme, u.Scheme)}
	}
	if err := checkURLDetails(u); err != nil {
		return nil, err
	}
	return u, nil
}

// fileURLPath is the local path a file:// URL names: "file:///var/b" →
// "/var/b", "file:///C:/b" → "C:/b", "file://./b" → "b".
func fileURLPath(u *url.URL) string {
	p := u.Path
	if u.Host == "." {
		return strings.TrimPrefix(p, "/")
	}
	if len(p) >= 3 && p[0] == '/' && p[2] == ':' && isLetter(p[1]) {
		return p[1:]
	}
	return p
}

func isLetter(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }

// locationKey identifies the place a URL points at, ignoring query
// parameters (region and the like), host case and trailing slashes, so that
// two spellings of one place compare equal.
func locationKey(u *url.URL) string {
	p := strings.TrimRight(u.Path, "/")
	return u.Scheme + "://" + strings.ToLower(u.Host) + p
}

// serverPath decodes a server_path and applies its default: a file:// url's
// local path. It is required when url is not file:// and the server needs
// to read or write the place (required is false for a copy_only target's
// destination, which no server reads).
//
// The missing server_path is returned apart (missing), not in diags: only
// an engine whose server reads and writes the place needs one, and the
// engine is known once the blocks are linked (validate.go). drsctl carries
// a PostgreSQL primary's and standby's backups itself.
func (l *loader) serverPath(attr *hcl.Attribute, u *url.URL, required bool, block *hcl.Block) (sp string, diags hcl.Diagnostics, missing *hcl.Diagnostic) {
	sp, set, diags := l.nonEmptyStr(attr)
	if set || diags.HasErrors() {
		return sp, diags, nil
	}
	if u == nil {
		return "", diags, nil // url missing or invalid: already reported
	}
	if u.Scheme == "file" {
		return fileURLPath(u), diags, nil
	}
	if required {
		missing = &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing server_path",
			Detail: fmt.Sprintf("This %s block's url is %s URL, so the database server needs its own way to reach the place: set server_path "+
				`to a local path, a UNC path such as \\server\share\dir, or a URL for BACKUP/RESTORE … URL. Only a file:// url may omit it.`, block.Type, schemeWithArticle(u.Scheme)),
			Subject: block.DefRange.Ptr(),
		}
	}
	return "", diags, missing
}

// carriedServerPath is the server_path of a place only drsctl reads and
// writes (a carried engine's): the URL without its parameters, so the
// planner's bookkeeping, which names files by server path, still tells
// one place from another.
func carriedServerPath(u *url.URL) string { return locationKey(u) }
