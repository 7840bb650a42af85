package sqlsim

import "strings"

var tReal = sqlType{k: kFloat, size: 4}

// dmDBLogSpaceUsage is sys.dm_db_log_space_usage: one row, for the
// session's current database (never a three-part name's: a DMV named
// db.sys.… still reports the current database, the stricter reading), with
// its log files' total size and the log written since the last log backup
// (doc.go, "Log space"). It needs VIEW SERVER STATE (300 then 297
// otherwise); system databases have no modelled log and give no row.
func (x *execCtx) dmDBLogSpaceUsage() (*relation, *sqlError) {
	if !x.s.seesAllSessions() {
		return nil, newErr(300, 14, "VIEW SERVER STATE permission was denied on object 'server', database 'master'.").
			then(newErr(297, 16, "The user does not have permission to perform this action."))
	}
	r := &relation{cols: []column{
		col("database_id", tSmallInt, false),
		col("total_log_size_in_bytes", tBigInt, false),
		col("used_log_space_in_bytes", tBigInt, false),
		col("used_log_space_in_percent", tReal, false),
		col("log_space_in_bytes_since_last_backup", tBigInt, false),
	}}
	d := x.s.srv.st.db(x.s.curDB)
	if d == nil || !strings.EqualFold(d.State, "ONLINE") && !d.Standby {
		return r, nil
	}
	var total int64
	for _, f := range d.Files {
		if f.Type == "L" {
			total += f.Size
		}
	}
	since := logBytesSinceBackup(d)
	used := min(total, since+8192)
	pct := float64(0)
	if total > 0 {
		pct = float64(used) * 100 / float64(total)
	}
	r.rows = append(r.rows, []value{
		{t: tSmallInt, v: int64(d.ID)}, {t: tBigInt, v: total}, {t: tBigInt, v: used},
		{t: tReal, v: pct}, {t: tBigInt, v: since},
	})
	return r, nil
}

// logBytesSinceBackup is the log a log backup taken now would carry, in
// the pages the simulator's log backups count (backup.go: 40 records a
// page, one more for the log's own header).
func logBytesSinceBackup(d *database) int64 {
	n := 0
	for _, r := range d.Log {
		if d.ChainLSN == "" || lsnCmp(r.LSN, d.ChainLSN) >= 0 {
			n++
		}
	}
	return (1 + int64(n)/40 + 1) * 8192
}
