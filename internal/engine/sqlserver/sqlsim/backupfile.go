package sqlsim

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// The backup file format (sqlsim's own, not Microsoft Tape Format):
//
//	magic "SQLSIM-BACKUP-1\n" (16 bytes)
//	uint32 BE header length, header JSON, uint32 BE CRC-32 of the header JSON
//	uint32 BE payload length, payload JSON (rows or log records)
//	SHA-256 of everything before (32 bytes)
//
// HEADERONLY/FILELISTONLY read and check only the header; VERIFYONLY and
// RESTORE check the whole file, so truncation or a flipped byte is found.
const backupMagic = "SQLSIM-BACKUP-1\n"

type bakHeader struct {
	BackupType           int       `json:"BackupType"` // 1 database, 2 log
	BackupName           string    `json:"BackupName,omitempty"`
	BackupDescription    string    `json:"BackupDescription,omitempty"`
	UserName             string    `json:"UserName"`
	ServerName           string    `json:"ServerName"`
	MachineName          string    `json:"MachineName"`
	DatabaseName         string    `json:"DatabaseName"`
	DatabaseCreationDate time.Time `json:"DatabaseCreationDate"`
	FirstLSN             string    `json:"FirstLSN"`
	LastLSN              string    `json:"LastLSN"`
	CheckpointLSN        string    `json:"CheckpointLSN"`
	DatabaseBackupLSN    string    `json:"DatabaseBackupLSN"`
	BackupStartDate      time.Time `json:"BackupStartDate"`
	BackupFinishDate     time.Time `json:"BackupFinishDate"`
	// TimeZone is the offset in 15-minute intervals when the backup was
	// written, 127 unknown; nil in files written before it was kept
	// (unknown). msdb.dbo.backupset.time_zone on every server that records it.
	TimeZone *int `json:"TimeZone,omitempty"`
	// HeaderTimeZone is what HEADERONLY's TimeZone column says (16 only).
	HeaderTimeZone      string   `json:"HeaderTimeZone,omitempty"`
	RecoveryModel       string   `json:"RecoveryModel"`
	Compressed          bool     `json:"Compressed"`
	HasBackupChecksums  bool     `json:"HasBackupChecksums"`
	IsCopyOnly          bool     `json:"IsCopyOnly"`
	BeginsLogChain      bool     `json:"BeginsLogChain"`
	IsForceOffline      bool     `json:"IsForceOffline"` // tail-log WITH NORECOVERY
	BackupSetGUID       string   `json:"BackupSetGUID"`
	FamilyGUID          string   `json:"FamilyGUID"`
	DatabaseGUID        string   `json:"DatabaseGUID"`
	RecoveryForkID      string   `json:"RecoveryForkID"`
	FirstRecoveryForkID string   `json:"FirstRecoveryForkID"`
	ForkPointLSN        string   `json:"ForkPointLSN,omitempty"`
	Forks               []fork   `json:"Forks"` // recovery path of the source, oldest first
	Files               []dbFile `json:"Files"`
	BackupSize          int64    `json:"BackupSize"`
	Pages               []int64  `json:"Pages"` // pages per file, for messages
	// SoftwareVersionMajor is the major version of the server that took
	// the backup (0 in files written before it was kept: 16).
	SoftwareVersionMajor int `json:"SoftwareVersionMajor,omitempty"`
}

type bakPayload struct {
	Rows []row    `json:"rows,omitempty"`
	Log  []logRec `json:"log,omitempty"`
}

func encodeBackup(h *bakHeader, p *bakPayload) ([]byte, error) {
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	pj, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(backupMagic)
	b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(hj))))
	b.Write(hj)
	b.Write(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(hj)))
	b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(pj))))
	b.Write(pj)
	sum := sha256.Sum256(b.Bytes())
	b.Write(sum[:])
	return b.Bytes(), nil
}

var errMalformed = errors.New("malformed backup file")

// decodeBackup parses a backup file; with full=false only the header is
// checked and returned.
func decodeBackup(b []byte, full bool) (*bakHeader, *bakPayload, error) {
	if len(b) < len(backupMagic)+4 || string(b[:len(backupMagic)]) != backupMagic {
		return nil, nil, errMalformed
	}
	pos := len(backupMagic)
	hl := int(binary.BigEndian.Uint32(b[pos:]))
	pos += 4
	if hl < 0 || pos+hl+4 > len(b) {
		return nil, nil, errMalformed
	}
	hj := b[pos : pos+hl]
	pos += hl
	if binary.BigEndian.Uint32(b[pos:]) != crc32.ChecksumIEEE(hj) {
		return nil, nil, errMalformed
	}
	pos += 4
	h := &bakHeader{}
	if err := json.Unmarshal(hj, h); err != nil {
		return nil, nil, errMalformed
	}
	if (h.BackupType != 1 && h.BackupType != 2) || !validLSN(h.FirstLSN) || !validLSN(h.LastLSN) {
		return nil, nil, errMalformed
	}
	if !full {
		return h, nil, nil
	}
	if pos+4 > len(b) {
		return nil, nil, errMalformed
	}
	pl := int(binary.BigEndian.Uint32(b[pos:]))
	pos += 4
	if pl < 0 || pos+pl+sha256.Size != len(b) {
		return nil, nil, errMalformed
	}
	sum := sha256.Sum256(b[:pos+pl])
	if !bytes.Equal(sum[:], b[pos+pl:]) {
		return nil, nil, errMalformed
	}
	p := &bakPayload{}
	if err := json.Unmarshal(b[pos:pos+pl], p); err != nil {
		return nil, nil, errMalformed
	}
	return h, p, nil
}

// osError words an OS error as SQL Server does in 3201/5133 messages.
func osError(err error) string {
	var errno syscall.Errno
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "2(The system cannot find the file specified.)"
	case errors.Is(err, fs.ErrPermission):
		return "5(Access is denied.)"
	case errors.As(err, &errno) && errno == syscall.ENOTDIR:
		return "3(The system cannot find the path specified.)"
	case errors.As(err, &errno) && errno == syscall.EISDIR:
		return "5(Access is denied.)"
	case errors.Is(err, syscall.ENOSPC):
		return "112(There is not enough space on the disk.)"
	}
	return "1117(The request could not be performed because of an I/O device error.)"
}

// readBackupFile opens a backup device as RESTORE does: 3201 when it cannot
// be opened, 3241 when its content is not a well-formed backup.
func readBackupFile(path string, full bool) (*bakHeader, *bakPayload, *sqlError) {
	if !filepath.IsAbs(path) {
		return nil, nil, errDeviceOpen(path, "2(The system cannot find the file specified.)")
	}
	st, err := os.Stat(path)
	if err == nil && st.IsDir() {
		return nil, nil, errDeviceOpen(path, "5(Access is denied.)")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, errDeviceOpen(path, osError(err))
	}
	h, p, derr := decodeBackup(b, full)
	if derr != nil {
		return nil, nil, errMediaFamily(path)
	}
	return h, p, nil
}

// checkDir reports whether path's directory exists (SQL Server neither
// creates directories for backups nor for restored files).
func checkDir(path string) error {
	if !filepath.IsAbs(path) {
		return fs.ErrNotExist
	}
	st, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return syscall.ENOTDIR
	}
	return nil
}
