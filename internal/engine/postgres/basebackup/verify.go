package basebackup

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Manifest is the part of a backup_manifest (format version 1) Verify uses.
type Manifest struct {
	Version   int            `json:"PostgreSQL-Backup-Manifest-Version"`
	Files     []ManifestFile `json:"Files"`
	WALRanges []struct {
		Timeline uint32 `json:"Timeline"`
		StartLSN string `json:"Start-LSN"`
		EndLSN   string `json:"End-LSN"`
	} `json:"WAL-Ranges"`
	Checksum string `json:"Manifest-Checksum"`
}

// ManifestFile is one file's entry in a backup_manifest.
type ManifestFile struct {
	Path        string `json:"Path"`
	EncodedPath string `json:"Encoded-Path"`
	Size        int64  `json:"Size"`
	Algorithm   string `json:"Checksum-Algorithm"`
	Checksum    string `json:"Checksum"`
}

// ParseManifest reads a backup_manifest and checks its own checksum.
func ParseManifest(b []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("backup_manifest is not valid JSON (truncated or damaged?): %w", err)
	}
	if m.Version != 1 {
		return nil, fmt.Errorf("backup_manifest has version %d; only version 1 is understood", m.Version)
	}
	// The manifest's checksum covers every byte before its last line.
	i := bytes.LastIndex(b, []byte("\"Manifest-Checksum\""))
	if i < 0 {
		return nil, errors.New("backup_manifest has no Manifest-Checksum")
	}
	sum := sha256.Sum256(b[:i])
	if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, m.Checksum) {
		return nil, fmt.Errorf("backup_manifest is damaged: its checksum is %s, it says %s", got, m.Checksum)
	}
	return &m, nil
}

// notInManifest are files a restore may add that the manifest does not list
// (as pg_verifybackup ignores them).
var notInManifest = map[string]bool{
	ManifestName: true, "postgresql.auto.conf": true, "standby.signal": true, "recovery.signal": true,
}

// Verify checks an unpacked base backup in dir against its backup_manifest:
// the manifest's own checksum, then every listed file's presence, size and
// SHA-256, and that no file outside pg_wal is there unlisted. The first
// problem found is returned, naming the file.
//
// It is done here rather than by pg_verifybackup because the runner doing a
// restore may not have PostgreSQL's client programs, and because it needs no
// WAL: pg_verifybackup would be run with -n (no WAL parsing) anyway, as the
// WAL ships separately. The tests check that pg_verifybackup -n agrees.
func Verify(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return fmt.Errorf("verify %s: %w (was the base backup unpacked there?)", dir, err)
	}
	m, err := ParseManifest(b)
	if err != nil {
		return fmt.Errorf("verify %s: %w", dir, err)
	}
	listed := make(map[string]bool, len(m.Files))
	for _, f := range m.Files {
		name := f.Path
		if f.EncodedPath != "" {
			raw, err := hex.DecodeString(f.EncodedPath)
			if err != nil {
				return fmt.Errorf("verify %s: backup_manifest: bad Encoded-Path %q", dir, f.EncodedPath)
			}
			name = string(raw)
		}
		listed[name] = true
		if !strings.EqualFold(f.Algorithm, "SHA256") {
			return fmt.Errorf("verify %s: %s has a %q checksum in backup_manifest; drsctl asks for SHA256", dir, name, f.Algorithm)
		}
		if err := checkFile(filepath.Join(dir, filepath.FromSlash(name)), f.Size, f.Checksum); err != nil {
			return fmt.Errorf("verify %s: %s: %w: the base backup is damaged; take a new one", dir, name, err)
		}
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() && rel == "pg_wal" {
			return fs.SkipDir
		}
		if d.IsDir() || d.Type()&fs.ModeSymlink != 0 || listed[rel] || notInManifest[rel] {
			return nil
		}
		return fmt.Errorf("verify %s: %s is not in backup_manifest: the directory holds more than the base backup", dir, rel)
	})
}

func checkFile(p string, size int64, want string) error {
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return errors.New("missing")
		}
		return err
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("size %d bytes, the manifest says %d", n, size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, want) {
		return fmt.Errorf("SHA-256 %s, the manifest says %s", got, want)
	}
	return nil
}
