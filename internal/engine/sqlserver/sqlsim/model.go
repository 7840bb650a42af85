package sqlsim

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// state is everything the simulator persists in DataDir.
type state struct {
	Version              int               `json:"version"`
	NextDatabaseID       int               `json:"next_database_id"`
	NextBackupSetID      int               `json:"next_backup_set_id"`
	NextMediaSetID       int               `json:"next_media_set_id"`
	NextRestoreHistoryID int               `json:"next_restore_history_id"`
	Databases            []*database       `json:"databases"`
	BackupSets           []*backupSetRow   `json:"backupset"`
	MediaFamilies        []*mediaFamilyRow `json:"backupmediafamily"`
	RestoreHistory       []*restoreHistRow `json:"restorehistory"`
	Credentials          []*credential     `json:"credentials,omitempty"` // url.go
}

const stateVersion = 1

// database is one user database.
type database struct {
	Name       string    `json:"name"`
	ID         int       `json:"database_id"`
	State      string    `json:"state"` // ONLINE or RESTORING
	Standby    bool      `json:"is_in_standby"`
	ReadOnly   bool      `json:"is_read_only"`
	Recovery   string    `json:"recovery_model"` // FULL, BULK_LOGGED, SIMPLE
	CreateDate time.Time `json:"create_date"`
	GUID       string    `json:"database_guid"` // changes when the database is created or restored
	FamilyGUID string    `json:"family_guid"`   // the identity of the database's backups (kept by restores)
	Forks      []fork    `json:"forks"`         // recovery path, oldest first; last is current
	Files      []dbFile  `json:"files"`
	Rows       []row     `json:"rows"`           // dbo.drs_probe
	Log        []logRec  `json:"log"`            // log records not yet backed up (inserts)
	NextLSN    string    `json:"next_lsn"`       // LSN of the next log record
	Checkpoint string    `json:"checkpoint_lsn"` // last checkpoint
	// ChainLSN is where the next log backup starts (last_log_backup_lsn);
	// "" when there is no log chain.
	ChainLSN string `json:"chain_lsn,omitempty"`
	// LastFullCheckpoint is the CheckpointLSN of the newest non-copy-only
	// full backup (the DatabaseBackupLSN of the next backups).
	LastFullCheckpoint string `json:"last_full_checkpoint_lsn,omitempty"`
	// RedoLSN is where the next restore continues while RESTORING/STANDBY.
	RedoLSN  string `json:"redo_lsn,omitempty"`
	UndoFile string `json:"undo_file,omitempty"`
	// RedoTime is, while RESTORING/STANDBY, the point in time the restores
	// reached (the restored backup's finish, or a STOPAT): an earlier STOPAT
	// is too early (4335).
	RedoTime time.Time `json:"redo_time,omitzero"`
	// Interrupted is the BackupSetGUID of a RESTORE DATABASE that was
	// interrupted during its data copy (an attention, or its connection
	// lost): the database is left RESTORING with nothing to roll forward
	// until that backup set is restored again or a full replaces it (4319).
	Interrupted string `json:"interrupted,omitempty"`
	// UpgradeFrom is, while RESTORING/STANDBY, the older major version the
	// restored backups were taken on (0: this server's): recovery upgrades
	// the database, so STANDBY is refused (3180) until then.
	UpgradeFrom int `json:"upgrade_from,omitempty"`
	// Owner is the login that created the database (CREATE DATABASE, or a
	// RESTORE that created it); "" is sa. The owner may restore over it.
	Owner string `json:"owner,omitempty"`
	// UserAccess is SINGLE_USER or RESTRICTED_USER; "" is MULTI_USER.
	UserAccess string `json:"user_access,omitempty"`
}

type fork struct {
	ID       string `json:"id"`
	StartLSN string `json:"start_lsn"`
}

type dbFile struct {
	Logical   string `json:"logical_name"`
	Physical  string `json:"physical_name"`
	Type      string `json:"type"` // D or L
	FileID    int    `json:"file_id"`
	FileGroup string `json:"filegroup,omitempty"`
	Size      int64  `json:"size_bytes"`
	// CreateLSN is the LSN of the ALTER DATABASE … ADD FILE that created
	// the file ("" for the files CREATE DATABASE made: 0 in FILELISTONLY);
	// DropLSN that of its REMOVE FILE, set only in a log backup's list.
	CreateLSN string `json:"create_lsn,omitempty"`
	DropLSN   string `json:"drop_lsn,omitempty"`
}

type row struct {
	ID   int64   `json:"id"`
	Note *string `json:"note"`
	LSN  string  `json:"lsn"`
}

type logRec struct {
	LSN string `json:"lsn"`
	Row row    `json:"row"`
	// Time is when the record was written (the server's clock): what
	// RESTORE LOG … WITH STOPAT compares. Zero in files written before it
	// was kept, which count as before any STOPAT.
	Time time.Time `json:"time,omitzero"`
	// File, when set, makes this a file record (ALTER DATABASE … ADD FILE
	// or REMOVE FILE) instead of an inserted row.
	File *fileRec `json:"file,omitempty"`
}

type backupSetRow struct {
	BackupSetID        int       `json:"backup_set_id"`
	BackupSetUUID      string    `json:"backup_set_uuid"`
	MediaSetID         int       `json:"media_set_id"`
	Name               string    `json:"name,omitempty"`
	Description        string    `json:"description,omitempty"`
	UserName           string    `json:"user_name"`
	ServerName         string    `json:"server_name"`
	MachineName        string    `json:"machine_name"`
	DatabaseName       string    `json:"database_name"`
	DatabaseCreateDate time.Time `json:"database_creation_date"`
	BackupStartDate    time.Time `json:"backup_start_date"`
	BackupFinishDate   time.Time `json:"backup_finish_date"`
	TimeZone           *int      `json:"time_zone,omitempty"` // 15-minute intervals; nil or 127 unknown
	Type               string    `json:"type"`                // D, L
	FirstLSN           string    `json:"first_lsn"`
	LastLSN            string    `json:"last_lsn"`
	CheckpointLSN      string    `json:"checkpoint_lsn"`
	DatabaseBackupLSN  string    `json:"database_backup_lsn"`
	RecoveryModel      string    `json:"recovery_model"`
	IsCopyOnly         bool      `json:"is_copy_only"`
	HasChecksums       bool      `json:"has_backup_checksums"`
	BeginsLogChain     bool      `json:"begins_log_chain"`
	FamilyGUID         string    `json:"family_guid"`
	DatabaseGUID       string    `json:"database_guid"`
	FirstForkGUID      string    `json:"first_recovery_fork_guid"`
	LastForkGUID       string    `json:"last_recovery_fork_guid"`
	ForkPointLSN       string    `json:"fork_point_lsn,omitempty"`
	BackupSize         int64     `json:"backup_size"`
	CompressedSize     int64     `json:"compressed_backup_size"`
}

type mediaFamilyRow struct {
	MediaSetID         int    `json:"media_set_id"`
	FamilySequence     int    `json:"family_sequence_number"`
	MediaFamilyID      string `json:"media_family_id"`
	PhysicalDeviceName string `json:"physical_device_name"`
	DeviceType         int    `json:"device_type"` // 2 disk, 9 URL
}

type restoreHistRow struct {
	RestoreHistoryID int       `json:"restore_history_id"`
	RestoreDate      time.Time `json:"restore_date"`
	Destination      string    `json:"destination_database_name"`
	UserName         string    `json:"user_name"`
	BackupSetID      int       `json:"backup_set_id"`
	RestoreType      string    `json:"restore_type"` // D, L; V for VERIFYONLY WITH LOADHISTORY
	Replace          bool      `json:"replace"`
	Recovery         bool      `json:"recovery"`
	StopAt           time.Time `json:"stop_at,omitempty"`
}

func newState() *state {
	return &state{Version: stateVersion, NextDatabaseID: 5, NextBackupSetID: 1, NextMediaSetID: 1, NextRestoreHistoryID: 1}
}

const stateFile = "sqlsim-state.json"

func loadState(dir string) (*state, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return newState(), nil
	}
	if err != nil {
		return nil, err
	}
	st := &state{}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("sqlsim: reading %s: %w", stateFile, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("sqlsim: %s has version %d, want %d", stateFile, st.Version, stateVersion)
	}
	return st, nil
}

func saveState(dir string, st *state) error {
	b, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, stateFile), b)
}

// writeFileAtomic writes to a temporary name in the same directory, syncs and
// renames, so a reader sees the old file or the new one, never a part.
func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatGUID(b)
}

// sameName compares identifiers as SQL Server does under a case-insensitive
// collation: ignoring case and trailing spaces ([Sales ] is [Sales]).
func sameName(a, b string) bool {
	return strings.EqualFold(strings.TrimRight(a, " "), strings.TrimRight(b, " "))
}

func (st *state) db(name string) *database {
	for _, d := range st.Databases {
		if sameName(d.Name, name) {
			return d
		}
	}
	return nil
}

func (st *state) dbByID(id int) *database {
	for _, d := range st.Databases {
		if d.ID == id {
			return d
		}
	}
	return nil
}

func (st *state) removeDB(d *database) {
	out := st.Databases[:0]
	for _, x := range st.Databases {
		if x != d {
			out = append(out, x)
		}
	}
	st.Databases = out
}

// systemDBs are always present, never persisted, never backed up here.
var systemDBs = []struct {
	name     string
	id       int
	recovery string
}{
	{"master", 1, "SIMPLE"},
	{"tempdb", 2, "SIMPLE"},
	{"model", 3, "FULL"},
	{"msdb", 4, "SIMPLE"},
}

func systemDB(name string) (string, int, bool) {
	for _, s := range systemDBs {
		if sameName(s.name, name) {
			return s.name, s.id, true
		}
	}
	return "", 0, false
}

func (d *database) currentFork() fork {
	if len(d.Forks) == 0 {
		return fork{}
	}
	return d.Forks[len(d.Forks)-1]
}

// forkAt is the fork that was current at lsn.
func forkAt(forks []fork, lsn string) fork {
	f := fork{}
	for _, x := range forks {
		if f.ID == "" || lsnCmp(x.StartLSN, lsn) <= 0 {
			f = x
		}
	}
	return f
}

// nextLSN takes the next log record's LSN.
func (d *database) takeLSN() string {
	l := d.NextLSN
	d.NextLSN = lsnAdd(d.NextLSN, 1)
	return l
}

// trimLog drops log records no log backup will need any more.
func (d *database) trimLog() {
	keepFrom := d.ChainLSN
	out := d.Log[:0]
	for _, r := range d.Log {
		if keepFrom != "" && lsnCmp(r.LSN, keepFrom) >= 0 {
			out = append(out, r)
		}
	}
	d.Log = out
}

func cloneRows(rs []row) []row {
	out := make([]row, len(rs))
	copy(out, rs)
	return out
}
