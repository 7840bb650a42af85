package sqlsim

// DeleteBackupHistory empties msdb's backup and restore history
// (backupset, backupmediafamily, restorehistory), as
// msdb.dbo.sp_delete_backuphistory @oldest_date = <now> does, which a
// maintenance plan's History Cleanup Task runs on a schedule. The
// databases are untouched; a standby's position is then known only from
// sys.master_files.redo_start_lsn, where the server fills it.
func (s *Server) DeleteBackupHistory() {
	s.mu.Lock()
	s.st.BackupSets, s.st.MediaFamilies, s.st.RestoreHistory = nil, nil, nil
	s.persist()
	s.mu.Unlock()
	s.logf("sqlsim %s: msdb backup and restore history deleted", s.opts.Name)
}
