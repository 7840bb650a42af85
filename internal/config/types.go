// Package config decodes drsctl's HCL configuration (*.drs.hcl) into the
// desired state the planner works from, and checks it. Every problem is
// reported at once as an HCL diagnostic with its source range.
package config

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Config is a decoded, checked configuration directory or file.
type Config struct {
	// Dir is the directory the configuration was read from; relative paths
	// (state url, file()) are resolved against it.
	Dir   string
	State StateBlock
	// Blocks in source order (files sorted by name).
	BackupFolders []*BackupFolder
	Primaries     []*Primary
	Targets       []*Target
	// Files holds the parsed sources, for rendering diagnostics with snippets.
	Files map[string]*hcl.File
}

// StateBlock is the `state` block. URL is never empty after Load: the
// default is "drs.state.json" beside the configuration.
type StateBlock struct {
	URL       string
	DeclRange hcl.Range
}

// BackupFolder is a `backup_folder` block: where a primary writes backups.
type BackupFolder struct {
	Name string
	// URL is how drsctl reads and writes the folder (file://, smb://, s3://,
	// azblob://).
	URL string
	// ServerPath is how the database server writes it; for file:// URLs it
	// defaults to the URL's local path.
	ServerPath string
	// Retention is how long artifacts are kept; zero keeps them forever.
	Retention time.Duration
	DeclRange hcl.Range
}

// Schedule is a full_backup or log_backup block.
type Schedule struct {
	Every time.Duration
	// AlertAfter is log_backup's alert_after: nil for the default (see
	// Primary.LogBackupAlert), zero to never alert.
	AlertAfter *time.Duration
	DeclRange  hcl.Range
}

// Primary is a `primary` block: a database server whose databases are
// protected.
type Primary struct {
	Name        string
	Engine      string
	Connection  Secret
	Databases   []string
	Folder      *BackupFolder
	FullBackup  Schedule
	LogBackup   Schedule
	RPO         time.Duration
	Compression bool
	// Credential is the server-side credential name used for URL backups.
	Credential string
	DeclRange  hcl.Range
}

// TargetKind says whether a target restores what it receives.
type TargetKind string

const (
	Standby  TargetKind = "standby"
	CopyOnly TargetKind = "copy_only"
)

// RestoreMode is how a standby target is left between restores.
type RestoreMode string

const (
	RestoreStandby    RestoreMode = "standby"    // read-only
	RestoreNoRecovery RestoreMode = "norecovery" // no reads
)

// Target is a `target` block: a standby (or copy-only store) of one primary.
type Target struct {
	Name       string
	Primary    *Primary
	Kind       TargetKind
	Connection Secret // required for standby targets
	// Databases lists the primary's databases this target protects; nil
	// means all of them. Use DatabaseNames.
	Databases    []string
	Destination  Destination
	RestoreMode  RestoreMode
	RestoreDelay time.Duration
	// RestoreWindows are the hours during which restores may start; none
	// means at any time.
	RestoreWindows  RestoreWindows
	DisconnectUsers bool
	DataDir         string
	LogDir          string
	// RestoreAlertAfter is restore_alert_after: nil for the default (see
	// RestoreAlert), zero to never alert. DrillAlertAfter is
	// drill_alert_after: zero (the default) never alerts.
	RestoreAlertAfter *time.Duration
	DrillAlertAfter   time.Duration
	DeclRange         hcl.Range
}

// DatabaseNames is the list of databases this target protects.
func (t *Target) DatabaseNames() []string {
	if t.Databases != nil {
		return t.Databases
	}
	return t.Primary.Databases
}

// Restores reports whether this target restores what it receives.
func (t *Target) Restores() bool { return t.Kind == Standby }

// Destination is a target's `destination` block: where its copies live.
type Destination struct {
	URL        string
	ServerPath string // how the standby server reads it; defaults like BackupFolder's
	Retention  time.Duration
	// PartSize and Concurrency tune uploads to object stores; zero means the
	// driver's default.
	PartSize    int64
	Concurrency int
	Credential  string
	DeclRange   hcl.Range
}

// PrimaryByName returns the named primary or nil.
func (c *Config) PrimaryByName(name string) *Primary {
	for _, p := range c.Primaries {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// TargetByName returns the named target or nil.
func (c *Config) TargetByName(name string) *Target {
	for _, t := range c.Targets {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// TargetsOf returns the targets of a primary, in configuration order.
func (c *Config) TargetsOf(p *Primary) []*Target {
	var ts []*Target
	for _, t := range c.Targets {
		if t.Primary == p {
			ts = append(ts, t)
		}
	}
	return ts
}

// Secret is a sensitive value such as a connection string. It prints as
// "(sensitive)" everywhere (fmt, %v, %#v, JSON) so it cannot leak into plans,
// logs or state; Value is the only way to read it, and it fails when the
// value could not be known (an unset environment variable), naming the cause
// and the place in the configuration.
type Secret struct {
	// value is behind a pointer so that no fmt path can print it: fmt
	// ignores String/Format methods when it reports a bad verb (say %s on a
	// struct holding a *Target) and then dumps fields raw, but a pointer
	// below the top level prints as an address.
	value *string
	set   bool
	// missing names what made the value unknown, e.g. `environment variable
	// "SALES_PRIMARY_DSN" is not set`.
	missing string
	Range   hcl.Range
}

// NewSecret returns a known secret value.
func NewSecret(v string, rng hcl.Range) Secret { return Secret{value: &v, set: true, Range: rng} }

// UnknownSecret returns a secret whose value cannot be known, with the reason.
func UnknownSecret(reason string, rng hcl.Range) Secret {
	return Secret{missing: reason, Range: rng}
}

// ErrSecretUnknown is wrapped by Value when the value is not known.
var ErrSecretUnknown = errors.New("value not known")

// Value returns the secret's value, or an error that says why it is not
// known and where it is configured (never the value itself).
func (s Secret) Value() (string, error) {
	if s.set {
		return *s.value, nil
	}
	reason := s.missing
	if reason == "" {
		reason = "not configured"
	}
	where := ""
	if s.Range.Filename != "" {
		where = fmt.Sprintf("%s:%d: ", s.Range.Filename, s.Range.Start.Line)
	}
	return "", &unknownSecretError{msg: where + reason + "; plan, apply and the other commands that connect to the server need it (validate does not)"}
}

// unknownSecretError says why a secret is not known and is ErrSecretUnknown
// for errors.Is, without the sentinel's words in its text.
type unknownSecretError struct{ msg string }

func (e *unknownSecretError) Error() string        { return e.msg }
func (e *unknownSecretError) Is(target error) bool { return target == ErrSecretUnknown }

// IsSet reports whether the value is known.
func (s Secret) IsSet() bool { return s.set }

func (s Secret) String() string   { return "(sensitive)" }
func (s Secret) GoString() string { return "(sensitive)" }

// Format prints "(sensitive)" for every verb (%d, %x and %q included).
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "(sensitive)") }

// MarshalJSON never writes the value.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"(sensitive)"`), nil }

// Redact replaces every occurrence of the secret's value in msg, for error
// texts produced by libraries that echo their input.
func (s Secret) Redact(msg string) string {
	if !s.set || *s.value == "" {
		return msg
	}
	return strings.ReplaceAll(msg, *s.value, "(sensitive)")
}
