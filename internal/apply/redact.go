package apply

import (
	"github.com/drsctl/drsctl/internal/blob"
)

// redact takes every credential the configuration hands out of an action's
// error before it is reported or returned: storage SDKs quote what servers
// answer, and a server or proxy may quote the request back (access key ID,
// session token, SAS signature). Connection strings are the engine's to
// hide (and Connect's); they are taken out here too, as a backstop.
func (x *execution) redact(err error) error {
	cfg := x.r.Config
	if err == nil || cfg == nil {
		return err
	}
	var urls []string
	for _, f := range cfg.BackupFolders {
		urls = append(urls, f.URL)
	}
	for _, t := range cfg.Targets {
		urls = append(urls, t.Destination.URL)
	}
	text := err.Error()
	clean := blob.RedactText(text, urls...)
	for _, p := range cfg.Primaries {
		clean = p.Connection.Redact(clean)
	}
	for _, t := range cfg.Targets {
		clean = t.Connection.Redact(clean)
	}
	if clean != text {
		return &redactedError{msg: clean, err: err}
	}
	return err
}

// redactedError shows a redacted text and keeps the chain (errors.Is for a
// cancellation, gcerrors codes).
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
