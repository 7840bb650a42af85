package sqlsim

// BackupRecord is one row of msdb.dbo.backupset (with its device from
// backupmediafamily), as tests read it without going through T-SQL.
type BackupRecord struct {
	BackupSetID int
	Database    string
	Type        string // D full, L log
	FirstLSN    string // decimal
	LastLSN     string
	// CheckpointLSN and DatabaseBackupLSN as msdb records them.
	CheckpointLSN     string
	DatabaseBackupLSN string
	CopyOnly          bool
	Path              string // physical_device_name
	// Restored is true for the rows a RESTORE added (SQL Server records the
	// backup set of every restore in the restoring server's msdb too).
	Restored bool
}

// Empty reports whether a log backup holds no log: nothing was logged
// between the previous log backup and this one (FirstLSN = LastLSN).
func (b BackupRecord) Empty() bool { return b.Type == "L" && lsnCmp(b.FirstLSN, b.LastLSN) == 0 }

// RestoreRecord is one row of msdb.dbo.restorehistory joined to the backup
// set it restored.
type RestoreRecord struct {
	RestoreHistoryID int
	Database         string // destination_database_name
	Type             string // D database, L log, V verify (WITH LOADHISTORY)
	FirstLSN         string
	LastLSN          string
	Path             string
	Replace          bool
	Recovery         bool
}

// BackupHistory lists msdb.dbo.backupset, oldest first.
func (s *Server) BackupHistory() []BackupRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	restored := map[int]bool{}
	for _, r := range s.st.RestoreHistory {
		restored[r.BackupSetID] = true
	}
	out := make([]BackupRecord, 0, len(s.st.BackupSets))
	for _, b := range s.st.BackupSets {
		out = append(out, BackupRecord{
			BackupSetID: b.BackupSetID, Database: b.DatabaseName, Type: b.Type,
			FirstLSN: b.FirstLSN, LastLSN: b.LastLSN, CheckpointLSN: b.CheckpointLSN,
			DatabaseBackupLSN: b.DatabaseBackupLSN, CopyOnly: b.IsCopyOnly,
			Path: s.devicePathLocked(b.MediaSetID), Restored: restored[b.BackupSetID],
		})
	}
	return out
}

// RestoreHistory lists msdb.dbo.restorehistory, oldest first.
func (s *Server) RestoreHistory() []RestoreRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RestoreRecord, 0, len(s.st.RestoreHistory))
	for _, r := range s.st.RestoreHistory {
		rec := RestoreRecord{RestoreHistoryID: r.RestoreHistoryID, Database: r.Destination, Type: r.RestoreType,
			Replace: r.Replace, Recovery: r.Recovery}
		for _, b := range s.st.BackupSets {
			if b.BackupSetID == r.BackupSetID {
				rec.FirstLSN, rec.LastLSN, rec.Path = b.FirstLSN, b.LastLSN, s.devicePathLocked(b.MediaSetID)
				break
			}
		}
		out = append(out, rec)
	}
	return out
}

// devicePathLocked is a media set's physical device name; callers hold s.mu.
func (s *Server) devicePathLocked(mediaSetID int) string {
	for _, m := range s.st.MediaFamilies {
		if m.MediaSetID == mediaSetID {
			return m.PhysicalDeviceName
		}
	}
	return ""
}

// DroppedDatabase is a database DROP DATABASE removed, as it was then: a
// test can tell what a database that no longer exists held (the scratch
// database of a restore drill).
type DroppedDatabase struct {
	Name  string
	State string  // ONLINE, RESTORING or STANDBY when it was dropped
	Rows  []int64 // ids of dbo.drs_probe's rows
}

// Dropped lists the databases dropped since the server started, oldest
// first (not persisted).
func (s *Server) Dropped() []DroppedDatabase {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]DroppedDatabase(nil), s.dropped...)
}

func rowIDs(rs []row) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}
