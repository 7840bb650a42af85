// Package artifact holds the vocabulary every part of drsctl shares about one
// backup file: its kind, its log sequence numbers and the rule that decides
// whether one backup continues the chain of another.
package artifact

import (
	"fmt"
	"strings"
	"time"
)

// Kind is the kind of a backup artifact.
type Kind string

const (
	Full Kind = "full"
	Log  Kind = "log"
)

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return k == Full || k == Log }

// LSN is a log sequence number as a decimal string. SQL Server's LSNs are
// numeric(25,0) and do not fit an int64, so they are never converted to one;
// comparison works on the digits. The zero value means "no LSN".
type LSN string

// ParseLSN accepts a non-negative decimal integer of any length.
func ParseLSN(s string) (LSN, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("parse lsn: empty")
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return "", fmt.Errorf("parse lsn %q: not a decimal number", s)
		}
	}
	t := strings.TrimLeft(s, "0")
	if t == "" {
		t = "0"
	}
	return LSN(t), nil
}

// IsZero reports whether l is unset.
func (l LSN) IsZero() bool { return l == "" }

// Cmp compares two LSNs numerically: -1, 0 or +1. An unset LSN sorts first.
func (l LSN) Cmp(o LSN) int {
	a, b := strings.TrimLeft(string(l), "0"), strings.TrimLeft(string(o), "0")
	if l.IsZero() || o.IsZero() {
		switch {
		case l.IsZero() && o.IsZero():
			return 0
		case l.IsZero():
			return -1
		default:
			return 1
		}
	}
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func (l LSN) String() string { return string(l) }

// Header is what a backup file says about itself (RESTORE HEADERONLY in SQL
// Server terms): enough to place it in a chain.
type Header struct {
	Kind     Kind
	Database string
	// FirstLSN and LastLSN bound the log the backup covers; LastLSN is the LSN
	// of the next log record after the backup.
	FirstLSN          LSN
	LastLSN           LSN
	CheckpointLSN     LSN
	DatabaseBackupLSN LSN
	Start             time.Time
	Finish            time.Time
	// CopyOnly backups neither start nor affect a chain.
	CopyOnly bool
	// FamilyGUID identifies the database's recovery path; a backup from another
	// family can never continue a chain.
	FamilyGUID string
	// Stripes is how many files (URLs) the backup was striped across, named
	// by StripePath; 0 when it is one file (and then left out of JSON, so
	// plans that carry headers read and write as before); -1 in a server's
	// history for a backup striped across files named otherwise.
	Stripes int `json:",omitempty"`
}

// Continues reports whether log backup next can be restored right after prev
// (a full or a log backup), and if not, why. This is the one place the chain
// rule lives:
//   - after a log backup:  next.FirstLSN == prev.LastLSN
//   - after a full backup: next.FirstLSN <= prev.LastLSN < next.LastLSN
func Continues(prev, next Header) (bool, string) {
	if next.Kind != Log {
		return false, fmt.Sprintf("a %s backup does not continue a chain", next.Kind)
	}
	if next.CopyOnly {
		return false, "a copy-only log backup is not part of the chain"
	}
	if prev.FamilyGUID != "" && next.FamilyGUID != "" && !strings.EqualFold(prev.FamilyGUID, next.FamilyGUID) {
		return false, "it is on another recovery path"
	}
	switch prev.Kind {
	case Log:
		switch c := next.FirstLSN.Cmp(prev.LastLSN); {
		case c == 0:
			return true, ""
		case c > 0:
			return false, fmt.Sprintf("gap: it begins at LSN %s but the previous backup ends at %s", next.FirstLSN, prev.LastLSN)
		default:
			return false, fmt.Sprintf("overlap: it begins at LSN %s, before the previous backup ends at %s", next.FirstLSN, prev.LastLSN)
		}
	case Full:
		if next.FirstLSN.Cmp(prev.LastLSN) > 0 {
			return false, fmt.Sprintf("gap: it begins at LSN %s, after the full backup ends at %s", next.FirstLSN, prev.LastLSN)
		}
		if prev.LastLSN.Cmp(next.LastLSN) >= 0 {
			return false, fmt.Sprintf("it ends at LSN %s, not after the full backup's %s", next.LastLSN, prev.LastLSN)
		}
		return true, ""
	default:
		return false, fmt.Sprintf("unknown backup kind %q", prev.Kind)
	}
}
