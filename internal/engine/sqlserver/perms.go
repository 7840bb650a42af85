package sqlserver

import (
	"regexp"
	"strings"
)

// Least privilege. What drsctl's login needs, on each side (README, "SQL
// Server"; Microsoft's Permissions sections of BACKUP, RESTORE, the RESTORE
// information statements, KILL, sys.dm_exec_sessions and sys.master_files):
//
//	primary: BACKUP DATABASE/LOG in each database (db_backupoperator);
//	         CREATE DATABASE (HEADERONLY after each backup: GRANT CREATE ANY DATABASE);
//	         SELECT on msdb's backupset/backupmediafamily (db_datareader in msdb);
//	         for a tail-log backup that disconnects readers: what a standby needs to.
//	standby: dbcreator (RESTORE of a new or an existing database, HEADERONLY,
//	         FILELISTONLY, sys.master_files); SELECT on msdb's restorehistory,
//	         backupset, backupmediafamily; with disconnect_users, ALTER ANY
//	         CONNECTION (processadmin) to KILL and VIEW SERVER STATE to see
//	         the readers' sessions.
//
// When the server refuses for want of a permission, the error keeps the
// server's number and words and adds the grant that fixes it.

// SQL Server's permission errors.
const (
	errPermDenied    = 262  // "<PERMISSION> permission denied in database '<db>'."
	errSelectDenied  = 229  // "The SELECT permission was denied on the object '<o>', database '<db>', schema '<s>'."
	errPermOnObject  = 300  // "<PERMISSION> permission was denied on object '<o>', database '<db>'."
	errRestorePerm   = 3110 // "User does not have permission to RESTORE database '<db>'."
	errKillPerm      = 6102 // "User does not have permission to use the KILL statement."
	errAlterDatabase = 5011 // "User does not have permission to alter database '<db>', the database does not exist, …"
)

var (
	rePermDenied   = regexp.MustCompile(`^(.+?) permission denied in database '(.*)'\.?$`)
	reSelectDenied = regexp.MustCompile(`permission was denied on the object '(.*)', database '(.*)', schema '(.*)'`)
	rePermOnObject = regexp.MustCompile(`^(.+?) permission was denied on object`)
)

// grantHint is what to run so that login may do what the server refused
// with err; "" when err is not about a permission. login is the login as
// the connection string names it ("" for integrated authentication).
func grantHint(login string, number int32, message string) string {
	who := "the login drsctl connects as"
	l := "[<login>]"
	if login != "" {
		who = "the login " + quoteIdent(login)
		l = quoteIdent(login)
	}
	user := func(db string) string {
		return "USE " + quoteIdent(db) + "; CREATE USER " + l + " FOR LOGIN " + l + "; "
	}
	switch number {
	case errPermDenied:
		m := rePermDenied.FindStringSubmatch(strings.TrimSpace(message))
		if m == nil {
			return ""
		}
		perm, db := strings.ToUpper(m[1]), m[2]
		switch {
		case perm == "CREATE DATABASE":
			return who + " needs CREATE DATABASE permission (RESTORE HEADERONLY and FILELISTONLY, and restoring a database that does not exist yet, require it): " +
				"GRANT CREATE ANY DATABASE TO " + l + " (a standby's login: ALTER SERVER ROLE [dbcreator] ADD MEMBER " + l + ", which also lets it restore over existing databases)"
		case strings.HasPrefix(perm, "BACKUP"):
			return who + " needs BACKUP DATABASE and BACKUP LOG in " + quoteIdent(db) + ": " +
				user(db) + "ALTER ROLE [db_backupoperator] ADD MEMBER " + l + " (if the user exists, only the ALTER ROLE)"
		}
		return who + " needs " + perm + " permission in " + quoteIdent(db)
	case errSelectDenied:
		m := reSelectDenied.FindStringSubmatch(message)
		if m == nil {
			return ""
		}
		obj, db, schema := m[1], m[2], m[3]
		if strings.EqualFold(db, "msdb") {
			return who + " needs to read msdb's backup and restore history: " +
				user("msdb") + "ALTER ROLE [db_datareader] ADD MEMBER " + l + " (if the user exists, only the ALTER ROLE)"
		}
		return who + " needs SELECT on " + quoteIdent(db) + "." + quoteIdent(schema) + "." + quoteIdent(obj)
	case errPermOnObject:
		m := rePermOnObject.FindStringSubmatch(strings.TrimSpace(message))
		if m == nil {
			return ""
		}
		perm := strings.ToUpper(m[1])
		if strings.HasPrefix(perm, "VIEW SERVER") {
			return who + " needs VIEW SERVER STATE (to see other sessions, the readers to disconnect): GRANT VIEW SERVER STATE TO " + l
		}
		return who + " needs " + perm + " permission: GRANT " + perm + " TO " + l
	case errRestorePerm:
		return who + " needs to restore over an existing database: ALTER SERVER ROLE [dbcreator] ADD MEMBER " + l
	case errKillPerm:
		return who + " needs ALTER ANY CONNECTION to end the sessions that hold the database (disconnect_users): " +
			"ALTER SERVER ROLE [processadmin] ADD MEMBER " + l + "; or GRANT ALTER ANY CONNECTION TO " + l
	case errAlterDatabase:
		return "if the database exists, " + who + " needs ALTER on it: ALTER SERVER ROLE [dbcreator] ADD MEMBER " + l
	}
	return ""
}

// addGrantHints adds to e what to grant, for each permission its causes
// say is missing.
func (e *ServerError) addGrantHints(login string) {
	var hints []string
	for _, c := range e.Causes {
		if h := grantHint(login, c.Number, c.Message); h != "" {
			hints = append(hints, h)
		}
	}
	if len(hints) == 0 {
		return
	}
	if e.Hint != "" {
		hints = append([]string{e.Hint}, hints...)
	}
	e.Hint = strings.Join(hints, "; ")
}
