package sqlsim

import (
	"sort"
	"strings"
)

// relation is a virtual table's content at the moment of a query.
type relation struct {
	cols []column
	rows [][]value
}

func col(name string, t sqlType, nullable bool) column {
	return column{name: name, t: t, nullable: nullable}
}

// resolveTable maps a (up to four-part) name to a virtual table. Callers
// hold srv.mu.
func (x *execCtx) resolveTable(o objName) (*relation, *sqlError) {
	parts := o.parts
	var server, dbn, schema, obj string
	switch len(parts) {
	case 1:
		obj = parts[0]
	case 2:
		schema, obj = parts[0], parts[1]
	case 3:
		dbn, schema, obj = parts[0], parts[1], parts[2]
	case 4:
		server, dbn, schema, obj = parts[0], parts[1], parts[2], parts[3]
	}
	if server != "" && !strings.EqualFold(server, x.s.srv.opts.Name) {
		return nil, errInvalidObject(o.text)
	}
	srv := x.s.srv
	if dbn == "" {
		dbn = x.s.curDB
	}
	lowerObj := strings.ToLower(obj)
	if strings.EqualFold(schema, "sys") {
		// Catalog views: the same server-wide content from any database.
		if _, _, ok := systemDB(dbn); !ok {
			d := srv.st.db(dbn)
			if d == nil {
				return nil, errInvalidObject(o.text)
			}
			if d.State == "RESTORING" {
				return nil, errDBRestoring(d.Name)
			}
		}
		switch lowerObj {
		case "databases":
			return x.sysDatabases(), nil
		case "master_files":
			return x.sysMasterFiles(), nil
		case "database_recovery_status":
			return x.sysRecoveryStatus(), nil
		case "dm_exec_sessions":
			return x.dmExecSessions(), nil
		case "credentials":
			return x.sysCredentials(), nil
		case "dm_db_log_space_usage":
			return x.dmDBLogSpaceUsage()
		}
		return nil, errInvalidObject(o.text)
	}
	if schema != "" && !strings.EqualFold(schema, "dbo") {
		return nil, errInvalidObject(o.text)
	}
	if strings.EqualFold(dbn, "msdb") {
		switch lowerObj {
		case "backupset", "backupmediafamily", "restorehistory":
			if err := x.denyMsdb(lowerObj); err != nil {
				return nil, err
			}
		}
		switch lowerObj {
		case "backupset":
			return x.msdbBackupSet(), nil
		case "backupmediafamily":
			return x.msdbMediaFamily(), nil
		case "restorehistory":
			return x.msdbRestoreHistory(), nil
		}
		return nil, errInvalidObject(o.text)
	}
	if lowerObj == "drs_probe" {
		d := srv.st.db(dbn)
		if d == nil {
			return nil, errInvalidObject(o.text)
		}
		if d.State == "RESTORING" {
			return nil, errDBRestoring(d.Name)
		}
		if err := x.touchLocked(d); err != nil {
			return nil, err
		}
		return probeRelation(d), nil
	}
	return nil, errInvalidObject(o.text)
}

var probeCols = []column{
	col("id", tInt, false),
	col("note", tNVarChar(200), true),
}

func probeRelation(d *database) *relation {
	r := &relation{cols: probeCols}
	for _, p := range d.Rows {
		note := null(tNVarChar(200))
		if p.Note != nil {
			note = value{t: tNVarChar(200), v: *p.Note}
		}
		r.rows = append(r.rows, []value{{t: tInt, v: p.ID}, note})
	}
	return r
}

// dbView is what the catalog shows for one database, system or user.
type dbView struct {
	name      string
	id        int
	state     string
	recovery  string
	standby   bool
	readOnly  bool
	created   value
	guid      string
	family    string
	fork      string
	firstFork string
	chain     string
	redo      string
	files     []dbFile
	access    string // database.UserAccess
}

func (x *execCtx) allDBs() []dbView {
	srv := x.s.srv
	var out []dbView
	for _, s := range systemDBs {
		out = append(out, dbView{name: s.name, id: s.id, state: "ONLINE", recovery: s.recovery,
			created: timeVal(day2003), files: []dbFile{
				{Logical: sysLogical(s.name, false), Physical: srv.dataPath(s.name + ".mdf"), Type: "D", FileID: 1, FileGroup: "PRIMARY", Size: 8 << 20},
				{Logical: sysLogical(s.name, true), Physical: srv.dataPath(s.name + "log.ldf"), Type: "L", FileID: 2, Size: 8 << 20},
			}})
	}
	dbs := append([]*database(nil), srv.st.Databases...)
	sort.Slice(dbs, func(i, j int) bool { return dbs[i].ID < dbs[j].ID })
	for _, d := range dbs {
		v := dbView{name: d.Name, id: d.ID, state: d.State, recovery: d.Recovery, standby: d.Standby,
			readOnly: d.ReadOnly, created: timeVal(d.CreateDate), guid: d.GUID, family: d.FamilyGUID,
			fork: d.currentFork().ID, files: d.Files, access: d.UserAccess}
		if len(d.Forks) > 0 {
			v.firstFork = d.Forks[0].ID
		}
		if d.State == "RESTORING" {
			// sys.database_recovery_status: "NULL = Database is offline,
			// or the database will not start"
			v.fork = ""
		}
		if d.State == "ONLINE" && !d.Standby {
			v.chain = d.ChainLSN
		} else {
			v.redo = d.RedoLSN
		}
		out = append(out, v)
	}
	return out
}

func sysLogical(name string, log bool) string {
	switch strings.ToLower(name) {
	case "master":
		if log {
			return "mastlog"
		}
		return "master"
	case "tempdb":
		if log {
			return "templog"
		}
		return "tempdev"
	case "model":
		if log {
			return "modellog"
		}
		return "modeldev"
	}
	if log {
		return "MSDBLog"
	}
	return "MSDBData"
}

func recoveryModelCode(m string) int64 {
	switch m {
	case "FULL":
		return 1
	case "BULK_LOGGED":
		return 2
	}
	return 3
}

func stateCode(s string) int64 {
	if s == "RESTORING" {
		return 1
	}
	return 0
}

func (x *execCtx) sysDatabases() *relation {
	r := &relation{cols: []column{
		col("name", tSysname, false),
		col("database_id", tInt, false),
		col("source_database_id", tInt, true),
		col("create_date", tDateTime, false),
		col("compatibility_level", tTinyInt, false),
		col("collation_name", tSysname, true),
		col("user_access", tTinyInt, true),
		col("user_access_desc", tNVarChar(60), true),
		col("is_read_only", tBit, true),
		col("state", tTinyInt, true),
		col("state_desc", tNVarChar(60), true),
		col("is_in_standby", tBit, true),
		col("recovery_model", tTinyInt, true),
		col("recovery_model_desc", tNVarChar(60), true),
		col("log_reuse_wait_desc", tNVarChar(60), true),
	}}
	for _, d := range x.allDBs() {
		reuse := "NOTHING"
		if d.recovery != "SIMPLE" && d.chain != "" {
			reuse = "LOG_BACKUP"
		}
		access, accessDesc := userAccessOf(d.access)
		r.rows = append(r.rows, []value{
			strVal(d.name), intVal(int64(d.id)), null(tInt), d.created,
			{t: tTinyInt, v: int64(160)}, strVal("SQL_Latin1_General_CP1_CI_AS"),
			{t: tTinyInt, v: access}, strVal(accessDesc),
			bitVal(d.readOnly), {t: tTinyInt, v: stateCode(d.state)}, strVal(d.state),
			bitVal(d.standby), {t: tTinyInt, v: recoveryModelCode(d.recovery)}, strVal(d.recovery),
			strVal(reuse),
		})
	}
	return r
}

func (x *execCtx) sysMasterFiles() *relation {
	r := &relation{cols: []column{
		col("database_id", tInt, false),
		col("file_id", tInt, false),
		col("file_guid", tGUID, true),
		col("type", tTinyInt, false),
		col("type_desc", tNVarChar(60), true),
		col("data_space_id", tInt, false),
		col("name", tSysname, false),
		col("physical_name", tNVarChar(260), false),
		col("state", tTinyInt, true),
		col("state_desc", tNVarChar(60), true),
		col("size", tInt, false),
		col("create_lsn", tLSN, true),
		col("drop_lsn", tLSN, true),
		col("redo_start_lsn", tLSN, true),
		col("redo_target_lsn", tLSN, true),
		col("backup_lsn", tLSN, true),
	}}
	if !x.s.who.seesAllFiles() {
		return r // no rows, no error (perms.go)
	}
	for _, d := range x.allDBs() {
		for _, f := range d.files {
			typ, desc, space := int64(0), "ROWS", int64(1)
			if f.Type == "L" {
				typ, desc, space = 1, "LOG", 0
			}
			redo := null(tLSN)
			// NULL unless RESTORING (doc.go, "redo_start_lsn"): a STANDBY
			// database is ONLINE and read-only.
			if d.redo != "" && (d.state == "RESTORING" || d.standby && x.s.srv.opts.RedoStartLSNInStandby) {
				redo = lsnVal(d.redo)
			}
			r.rows = append(r.rows, []value{
				intVal(int64(d.id)), intVal(int64(f.FileID)), null(tGUID),
				{t: tTinyInt, v: typ}, strVal(desc), intVal(space), strVal(f.Logical),
				{t: tNVarChar(260), v: f.Physical}, {t: tTinyInt, v: stateCode(d.state)}, strVal(d.state),
				intVal(f.Size / 8192), optLSN(f.CreateLSN), null(tLSN), redo, null(tLSN), null(tLSN),
			})
		}
	}
	return r
}

func (x *execCtx) sysRecoveryStatus() *relation {
	r := &relation{cols: []column{
		col("database_id", tInt, false),
		col("database_guid", tGUID, true),
		col("family_guid", tGUID, true),
		col("last_log_backup_lsn", tLSN, true),
		col("recovery_fork_guid", tGUID, true),
		col("first_recovery_fork_guid", tGUID, true),
		col("fork_point_lsn", tLSN, true),
	}}
	for _, d := range x.allDBs() {
		if d.guid == "" {
			continue // system databases: not modelled
		}
		r.rows = append(r.rows, []value{
			intVal(int64(d.id)), guidVal(d.guid), guidVal(d.family), lsnVal(d.chain),
			guidVal(d.fork), guidVal(d.firstFork), null(tLSN),
		})
	}
	return r
}

func (x *execCtx) dmExecSessions() *relation {
	srv := x.s.srv
	r := &relation{cols: []column{
		col("session_id", tSmallInt, false),
		col("login_time", tDateTime, false),
		col("host_name", tSysname, true),
		col("program_name", tSysname, true),
		col("login_name", tSysname, false),
		col("status", tNVarChar(30), false),
		col("is_user_process", tBit, false),
		col("database_id", tSmallInt, false),
		col("open_transaction_count", tInt, false),
	}}
	ids := make([]int, 0, len(srv.sessions))
	for id, ss := range srv.sessions {
		// Without VIEW SERVER STATE a session sees only its own row.
		if ss == x.s || x.s.seesAllSessions() {
			ids = append(ids, id)
		}
	}
	sort.Ints(ids)
	for _, id := range ids {
		ss := srv.sessions[id]
		dbid := int64(0)
		if _, sid, ok := systemDB(ss.curDB); ok {
			dbid = int64(sid)
		} else if d := srv.st.db(ss.curDB); d != nil {
			dbid = int64(d.ID)
		}
		status := "sleeping"
		if ss == x.s {
			status = "running"
		}
		r.rows = append(r.rows, []value{
			{t: tSmallInt, v: int64(id)}, timeVal(ss.loginTime), strVal(ss.host), strVal(ss.app),
			strVal(ss.user), strVal(status), bitVal(true), {t: tSmallInt, v: dbid}, intVal(int64(ss.tran)),
		})
	}
	return r
}

func (x *execCtx) msdbBackupSet() *relation {
	srv := x.s.srv
	r := &relation{cols: []column{
		col("backup_set_id", tInt, false),
		col("backup_set_uuid", tGUID, false),
		col("media_set_id", tInt, false),
		col("name", tNVarChar(128), true),
		col("description", tNVarChar(255), true),
		col("user_name", tNVarChar(128), true),
		col("software_major_version", tTinyInt, true),
		col("server_name", tNVarChar(128), true),
		col("machine_name", tNVarChar(128), true),
		col("database_name", tNVarChar(128), true),
		col("database_creation_date", tDateTime, true),
		col("backup_start_date", tDateTime, true),
		col("backup_finish_date", tDateTime, true),
		col("type", tChar1, true),
		col("first_lsn", tLSN, true),
		col("last_lsn", tLSN, true),
		col("checkpoint_lsn", tLSN, true),
		col("database_backup_lsn", tLSN, true),
		col("recovery_model", tNVarChar(60), true),
		col("is_copy_only", tBit, true),
		col("has_backup_checksums", tBit, true),
		col("is_damaged", tBit, true),
		col("begins_log_chain", tBit, true),
		col("family_guid", tGUID, true),
		col("database_guid", tGUID, true),
		col("first_recovery_fork_guid", tGUID, true),
		col("last_recovery_fork_guid", tGUID, true),
		col("fork_point_lsn", tLSN, true),
		col("backup_size", tNum20, true),
		col("compressed_backup_size", tNum20, true),
		col("time_zone", tSmallInt, true),
	}}
	optStr := func(s string, t sqlType) value {
		if s == "" {
			return null(t)
		}
		return value{t: t, v: s}
	}
	for _, b := range srv.st.BackupSets {
		zone := 127 // unknown: rows written before the simulator kept it
		if b.TimeZone != nil {
			zone = *b.TimeZone
		}
		r.rows = append(r.rows, []value{
			intVal(int64(b.BackupSetID)), guidVal(b.BackupSetUUID), intVal(int64(b.MediaSetID)),
			optStr(b.Name, tNVarChar(128)), optStr(b.Description, tNVarChar(255)), strVal(b.UserName),
			{t: tTinyInt, v: int64(16)}, strVal(b.ServerName), strVal(b.MachineName), strVal(b.DatabaseName),
			timeVal(b.DatabaseCreateDate), timeVal(b.BackupStartDate), timeVal(b.BackupFinishDate),
			{t: tChar1, v: b.Type}, lsnVal(b.FirstLSN), lsnVal(b.LastLSN), lsnVal(b.CheckpointLSN),
			lsnVal(b.DatabaseBackupLSN), strVal(b.RecoveryModel), bitVal(b.IsCopyOnly), bitVal(b.HasChecksums),
			bitVal(false), bitVal(b.BeginsLogChain), guidVal(b.FamilyGUID), guidVal(b.DatabaseGUID),
			guidVal(b.FirstForkGUID), guidVal(b.LastForkGUID), lsnVal(b.ForkPointLSN),
			numVal(b.BackupSize), numVal(b.CompressedSize), {t: tSmallInt, v: int64(zone)},
		})
	}
	return r
}

func (x *execCtx) msdbMediaFamily() *relation {
	srv := x.s.srv
	r := &relation{cols: []column{
		col("media_set_id", tInt, false),
		col("family_sequence_number", tTinyInt, false),
		col("media_family_id", tGUID, true),
		col("logical_device_name", tNVarChar(128), true),
		col("physical_device_name", tNVarChar(260), true),
		col("device_type", tTinyInt, true),
	}}
	for _, m := range srv.st.MediaFamilies {
		r.rows = append(r.rows, []value{
			intVal(int64(m.MediaSetID)), {t: tTinyInt, v: int64(m.FamilySequence)}, guidVal(m.MediaFamilyID),
			null(tNVarChar(128)), {t: tNVarChar(260), v: m.PhysicalDeviceName}, {t: tTinyInt, v: int64(m.DeviceType)},
		})
	}
	return r
}

func (x *execCtx) msdbRestoreHistory() *relation {
	srv := x.s.srv
	r := &relation{cols: []column{
		col("restore_history_id", tInt, false),
		col("restore_date", tDateTime, true),
		col("destination_database_name", tNVarChar(128), true),
		col("user_name", tNVarChar(128), true),
		col("backup_set_id", tInt, false),
		col("restore_type", tChar1, true),
		col("replace", tBit, true),
		col("recovery", tBit, true),
		col("restart", tBit, true),
		col("stop_at", tDateTime, true),
		col("device_count", tTinyInt, true),
	}}
	for _, h := range srv.st.RestoreHistory {
		r.rows = append(r.rows, []value{
			intVal(int64(h.RestoreHistoryID)), timeVal(h.RestoreDate), strVal(h.Destination), strVal(h.UserName),
			intVal(int64(h.BackupSetID)), {t: tChar1, v: h.RestoreType}, bitVal(h.Replace), bitVal(h.Recovery),
			bitVal(false), timeVal(h.StopAt), {t: tTinyInt, v: int64(1)},
		})
	}
	return r
}
