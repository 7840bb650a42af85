package blob

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
)

// Key layout: the one place that decides what artifacts are called and where
// they live, in backup folders and destinations alike.
//
//	<primary>/<database>/<kind>/<database>_<kind>_<YYYYMMDDTHHMMSSZ>.<bak|trn>
//
// Names (primary, database) are escaped into a single safe path segment: every
// byte outside [A-Za-z0-9_-] becomes ~HH (upper-case hex), as does the first
// letter of a Windows device name (CON → ~43ON), so any database
// name — `Sales]; DROP DATABASE x; --`, `O'Brien`, unicode, `../x` — gives a
// segment that is valid on every file system, SMB share and object store, is
// the same on all of them (no driver escapes it further), and decodes back
// losslessly. File names sort by time within a database and kind.
//
// A name whose escaped form is longer than MaxSegment (a long or non-ASCII
// name: each character of 日本 escapes to nine bytes) is shortened instead:
// the first part of its escaped form, "~~", and the first 128 bits of the
// name's SHA-256 in hex. "~~" never occurs in a spelled-out segment ('~' is
// always followed by two hex digits), so a shortened segment never equals a
// spelled-out one, and two shortened ones are equal only if their names'
// SHA-256 agree in 128 bits. It does not decode back. Names short enough to
// spell out are escaped exactly as before, so their keys do not move (and
// apply reads every existing artifact by the key its ledger records,
// whatever the layout was when it was written).
//
// Letters are kept as they are, so names that differ only in case give
// segments that differ only in case: SMB shares and Windows file systems
// mix them up, which is why the configuration refuses such names (see
// config's database and primary name checks).

// timeLayout is the artifact file time stamp: UTC, to the second, sortable.
const timeLayout = "20060102T150405Z"

// MaxSegment is the longest segment EscapeName returns. SQL Server takes a
// backup device's whole path — server_path and key, in which the database
// name appears twice (directory and file) — in at most 259 characters
// (msdb's physical_device_name is nvarchar(260), BACKUP TO URL allows 259),
// so a key must stay well short of that: with the primary's name too,
// about 170 bytes at most, leaving room for the server_path.
const MaxSegment = 64

// hashedMark separates a shortened segment's readable start from the
// SHA-256 of the whole name.
const hashedMark = "~~"

// EscapeName returns name as one safe path segment (see the key layout).
func EscapeName(name string) string {
	var b strings.Builder
	device := isDeviceName(name)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if isPlain(c) && !(device && i == 0) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "~%02X", c)
	}
	seg := b.String()
	if len(seg) <= MaxSegment {
		return seg
	}
	// 128 bits of SHA-256: names would have to be made to collide.
	sum := sha256.Sum256([]byte(name))
	digest := hex.EncodeToString(sum[:16])
	keep := MaxSegment - len(hashedMark) - len(digest)
	// Cut on an escape's boundary so the start reads as escaped text.
	if i := strings.LastIndexByte(seg[:keep], '~'); i >= keep-2 {
		keep = i
	}
	return seg[:keep] + hashedMark + digest
}

// IsShortened reports whether seg is an EscapeName segment shortened with
// the name's SHA-256 (a name too long to spell out), which does not decode.
func IsShortened(seg string) bool { return strings.Contains(seg, hashedMark) }

// UnescapeName reverses EscapeName; a shortened segment (IsShortened) is
// an error: only its name's SHA-256 is in it.
func UnescapeName(seg string) (string, error) {
	if IsShortened(seg) {
		return "", fmt.Errorf("unescape name %q: shortened to its SHA-256, the name cannot be read back", seg)
	}
	var b strings.Builder
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case c == '~':
			if i+2 >= len(seg) || !isUpperHex(seg[i+1]) || !isUpperHex(seg[i+2]) {
				return "", fmt.Errorf("unescape name %q: bad escape at byte %d", seg, i)
			}
			b.WriteByte(unhex(seg[i+1])<<4 | unhex(seg[i+2]))
			i += 2
		case isPlain(c):
			b.WriteByte(c)
		default:
			return "", fmt.Errorf("unescape name %q: unescaped byte %q", seg, c)
		}
	}
	return b.String(), nil
}

// isDeviceName reports whether Windows reserves name for a device (CON,
// NUL, COM1, …): its first letter is escaped too, so that an SMB share or
// an NTFS volume accepts the segment as it is.
func isDeviceName(name string) bool {
	switch strings.ToUpper(name) {
	case "CON", "PRN", "AUX", "NUL",
		"COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
		"LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9":
		return true
	}
	return false
}

func isPlain(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'A' + 10
}

// extension is the file extension of a kind of artifact, as SQL Server's own
// tools name them.
func extension(kind artifact.Kind) string {
	if kind == artifact.Full {
		return ".bak"
	}
	return ".trn"
}

// ArtifactFile is the file name of the backup of database of the given kind
// taken at t, e.g. "Sales_full_20261125T045500Z.bak" or
// "Sales_log_20261125T050000Z.trn". It is unique per database, kind and
// second (drsctl never takes two backups of one database and kind within a
// second) and sorts by time within a database and kind.
func ArtifactFile(database string, kind artifact.Kind, t time.Time) string {
	return EscapeName(database) + "_" + EscapeName(string(kind)) + "_" + t.UTC().Format(timeLayout) + extension(kind)
}

// ParseArtifactFile reverses ArtifactFile: ok is false for a name ArtifactFile
// cannot have produced (foreign files in a folder), and for one whose
// database name was too long to spell out (IsShortened).
func ParseArtifactFile(file string) (database string, kind artifact.Kind, t time.Time, ok bool) {
	dot := strings.LastIndexByte(file, '.')
	if dot < 0 {
		return "", "", time.Time{}, false
	}
	base, ext := file[:dot], file[dot:]
	i := strings.LastIndexByte(base, '_')
	if i < 0 {
		return "", "", time.Time{}, false
	}
	t, err := time.Parse(timeLayout, base[i+1:])
	if err != nil {
		return "", "", time.Time{}, false
	}
	base = base[:i]
	j := strings.LastIndexByte(base, '_')
	if j < 0 {
		return "", "", time.Time{}, false
	}
	kind = artifact.Kind(base[j+1:])
	if !kind.Valid() || extension(kind) != ext {
		return "", "", time.Time{}, false
	}
	database, err = UnescapeName(base[:j])
	if err != nil || database == "" || ArtifactFile(database, kind, t) != file {
		return "", "", time.Time{}, false
	}
	return database, kind, t, true
}

// ArtifactKey is where an artifact file lives in a backup folder or a
// destination: "<primary>/<database>/<kind>/<file>", each name escaped as
// EscapeName does. file is normally ArtifactFile's result, which passes
// through unchanged; any other byte outside [A-Za-z0-9_.~-] (and a leading
// '.') is escaped so the file stays one segment.
func ArtifactKey(primary, database string, kind artifact.Kind, file string) string {
	return EscapeName(primary) + "/" + EscapeName(database) + "/" + EscapeName(string(kind)) + "/" + escapeFile(file)
}

// DatabasePrefix is the key prefix (ending in "/") under which every artifact
// of one database of one primary lives, for listing.
func DatabasePrefix(primary, database string) string {
	return EscapeName(primary) + "/" + EscapeName(database) + "/"
}

func escapeFile(file string) string {
	var b strings.Builder
	for i := 0; i < len(file); i++ {
		c := file[i]
		if isPlain(c) || c == '~' || c == '.' && i > 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "~%02X", c)
	}
	return b.String()
}

// isWindowsPath reports whether a server path is a Windows one: a UNC path
// (\\server\share) or one starting with a drive letter (D:\ or D:/), or any
// path using backslashes and no slashes.
func isWindowsPath(p string) bool {
	switch {
	case strings.HasPrefix(p, `\\`):
		return true
	case len(p) >= 2 && p[1] == ':' && ('A' <= p[0] && p[0] <= 'Z' || 'a' <= p[0] && p[0] <= 'z'):
		return len(p) == 2 || p[2] == '\\' || p[2] == '/'
	}
	return strings.Contains(p, `\`) && !strings.Contains(p, "/")
}

// ServerPath joins a server_path (what a database server itself reads or
// writes: `\\fs01\drs\sales`, `D:\Backup`, `/var/opt/mssql/backup`,
// `https://acct.blob.core.windows.net/c/p`, `s3://host/bucket/p`) and a key.
// Windows paths get backslashes throughout, everything else slashes; the
// join never doubles a separator.
func ServerPath(base, key string) string {
	key = strings.TrimLeft(key, `/\`)
	if isWindowsPath(base) {
		base = strings.TrimRight(strings.ReplaceAll(base, "/", `\`), `\`)
		if len(base) == 2 && base[1] == ':' {
			// "D:" + key would be relative to D:'s current directory.
			return base + `\` + strings.ReplaceAll(key, "/", `\`)
		}
		if key == "" {
			return base
		}
		return base + `\` + strings.ReplaceAll(key, "/", `\`)
	}
	trimmed := strings.TrimRight(base, "/")
	switch {
	case key == "":
		return base
	case trimmed == "" && base != "":
		return "/" + key // base "/"
	case trimmed == "":
		return key
	case strings.HasSuffix(trimmed, ":"):
		return base + key // "s3://" and the like: keep the scheme's slashes
	}
	return trimmed + "/" + key
}

// StandbyUndoFile is the undo file of a database restored WITH STANDBY, in
// the data directory (or any server path) given, e.g.
// `D:\Data\Sales_standby.tuf`.
func StandbyUndoFile(dataDirOrBase, database string) string {
	return ServerPath(dataDirOrBase, EscapeName(database)+"_standby.tuf")
}
