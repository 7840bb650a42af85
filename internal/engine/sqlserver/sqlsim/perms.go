package sqlsim

import (
	"fmt"
	"net/url"
	"strings"
)

// Login is a SQL Server login other than sa, with what it was granted. sa
// (Options.Password) is always there and is sysadmin; a Login is whatever
// its roles and permissions make it, and each statement checks what SQL
// Server checks (see doc.go, "Logins and permissions").
type Login struct {
	Name     string
	Password string
	// ServerRoles are fixed server roles: "sysadmin", "dbcreator",
	// "processadmin".
	ServerRoles []string
	// Permissions are server permissions: "CREATE ANY DATABASE", "VIEW
	// SERVER STATE", "ALTER ANY CONNECTION", "ALTER ANY DATABASE", "VIEW
	// ANY DEFINITION".
	Permissions []string
	// DatabaseRoles are the fixed database roles of the login's user in each
	// database, by database name: "db_owner", "db_backupoperator",
	// "db_datareader" (msdb's history tables).
	DatabaseRoles map[string][]string
}

var (
	knownServerRoles = []string{"sysadmin", "dbcreator", "processadmin"}
	knownServerPerms = []string{"CREATE ANY DATABASE", "VIEW SERVER STATE", "ALTER ANY CONNECTION", "ALTER ANY DATABASE", "VIEW ANY DEFINITION"}
	knownDBRoles     = []string{"db_owner", "db_backupoperator", "db_datareader"}
)

// principal is a logged-in session's login and what it may do.
type principal struct {
	name  string
	sa    bool
	roles map[string]bool            // server roles, lower case
	perms map[string]bool            // server permissions, upper case
	db    map[string]map[string]bool // lower-case database name -> roles
}

func saPrincipal() *principal {
	return &principal{name: "sa", sa: true, roles: map[string]bool{"sysadmin": true}}
}

// checkLogins refuses a Login the simulator would not model: a typo in a
// role must not silently grant or deny.
func checkLogins(ls []Login) error {
	seen := map[string]bool{"sa": true}
	for _, l := range ls {
		n := strings.ToLower(l.Name)
		if n == "" || seen[n] {
			return fmt.Errorf("sqlsim: login %q is empty or defined twice (sa is built in)", l.Name)
		}
		seen[n] = true
		for _, r := range l.ServerRoles {
			if !containsFold(knownServerRoles, r) {
				return fmt.Errorf("sqlsim: login %q: server role %q is not one of %v", l.Name, r, knownServerRoles)
			}
		}
		for _, p := range l.Permissions {
			if !containsFold(knownServerPerms, p) {
				return fmt.Errorf("sqlsim: login %q: server permission %q is not one of %v", l.Name, p, knownServerPerms)
			}
		}
		for db, rs := range l.DatabaseRoles {
			for _, r := range rs {
				if !containsFold(knownDBRoles, r) {
					return fmt.Errorf("sqlsim: login %q: role %q in database %q is not one of %v", l.Name, r, db, knownDBRoles)
				}
			}
		}
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// authenticate finds the login name and checks its password; nil when the
// login fails (18456).
func (srv *Server) authenticate(user, password string) *principal {
	if strings.EqualFold(user, "sa") {
		if srv.opts.Password == "" || password == srv.opts.Password {
			return saPrincipal()
		}
		return nil
	}
	for _, l := range srv.opts.Logins {
		if !strings.EqualFold(l.Name, user) {
			continue
		}
		if password != l.Password {
			return nil
		}
		p := &principal{name: l.Name, roles: map[string]bool{}, perms: map[string]bool{}, db: map[string]map[string]bool{}}
		for _, r := range l.ServerRoles {
			p.roles[strings.ToLower(r)] = true
		}
		for _, g := range l.Permissions {
			p.perms[strings.ToUpper(g)] = true
		}
		for db, rs := range l.DatabaseRoles {
			m := map[string]bool{}
			for _, r := range rs {
				m[strings.ToLower(r)] = true
			}
			p.db[strings.ToLower(db)] = m
		}
		return p
	}
	return nil
}

func (p *principal) sysadmin() bool { return p == nil || p.roles["sysadmin"] }

// hasServerPerm reports a server permission, held directly or through a
// fixed server role (sysadmin holds them all; dbcreator CREATE ANY
// DATABASE; processadmin ALTER ANY CONNECTION).
func (p *principal) hasServerPerm(perm string) bool {
	if p.sysadmin() || p.perms[perm] {
		return true
	}
	switch perm {
	case "CREATE ANY DATABASE":
		return p.roles["dbcreator"]
	case "ALTER ANY CONNECTION":
		return p.roles["processadmin"]
	}
	return false
}

func (p *principal) dbRole(db, role string) bool {
	if p.sysadmin() {
		return true
	}
	rs := p.db[strings.ToLower(db)]
	return rs["db_owner"] || rs[role]
}

// canCreateDatabase is CREATE DATABASE permission in master (CREATE ANY
// DATABASE covers it).
func (p *principal) canCreateDatabase() bool { return p.hasServerPerm("CREATE ANY DATABASE") }

// errPermDenied is 262: "<permission> permission denied in database '<db>'."
func errPermDenied(perm, db string) *sqlError {
	return newErr(262, 14, "%s permission denied in database '%s'.", perm, db)
}

func errNoRestorePerm(db string) *sqlError {
	return newErr(3110, 14, "User does not have permission to RESTORE database '%s'.", db)
}

func errNoKillPerm() *sqlError {
	return newErr(6102, 14, "User does not have permission to use the KILL statement.")
}

func errSelectDenied(obj, db, schema string) *sqlError {
	return newErr(229, 14, "The SELECT permission was denied on the object '%s', database '%s', schema '%s'.", obj, db, schema)
}

// ---- the checks each statement makes ----

// denyBackup: BACKUP DATABASE and BACKUP LOG need sysadmin, or db_owner or
// db_backupoperator in the database.
func (x *execCtx) denyBackup(log bool, db string) *sqlError {
	if x.s.who.dbRole(db, "db_backupoperator") {
		return nil
	}
	if log {
		return errPermDenied("BACKUP LOG", db)
	}
	return errPermDenied("BACKUP DATABASE", db)
}

// denyRestoreInfo: RESTORE HEADERONLY, FILELISTONLY, LABELONLY and
// VERIFYONLY need CREATE DATABASE permission.
func (x *execCtx) denyRestoreInfo() *sqlError {
	if x.s.who.canCreateDatabase() {
		return nil
	}
	return errPermDenied("CREATE DATABASE", "master")
}

// denyRestore: restoring a database that does not exist needs CREATE
// DATABASE; over one that exists, sysadmin, dbcreator or the database's
// owner (the login that created it). Callers hold srv.mu.
func (x *execCtx) denyRestore(db string) *sqlError {
	p := x.s.who
	d := x.s.srv.st.db(db)
	if d != nil && !p.sysadmin() && strings.EqualFold(d.Owner, p.name) {
		return nil
	}
	if d == nil {
		if _, _, sys := systemDB(db); !sys && !p.canCreateDatabase() {
			return errPermDenied("CREATE DATABASE", "master")
		}
		return nil
	}
	if p.sysadmin() || p.roles["dbcreator"] {
		return nil
	}
	return errNoRestorePerm(db)
}

// denyKill: KILL needs ALTER ANY CONNECTION (sysadmin, processadmin).
func (x *execCtx) denyKill() *sqlError {
	if x.s.who.hasServerPerm("ALTER ANY CONNECTION") {
		return nil
	}
	return errNoKillPerm()
}

// denyMsdb: msdb's history tables are readable by sysadmin and msdb's
// db_owner and db_datareader (guest, which msdb keeps enabled, has no
// SELECT on them).
func (x *execCtx) denyMsdb(table string) *sqlError {
	if x.s.who.dbRole("msdb", "db_datareader") {
		return nil
	}
	return errSelectDenied(table, "msdb", "dbo")
}

// seesAllFiles: sys.master_files shows a database's rows only with CREATE
// DATABASE, ALTER ANY DATABASE or VIEW ANY DEFINITION (without them, no
// rows and no error).
func (p *principal) seesAllFiles() bool {
	return p.canCreateDatabase() || p.hasServerPerm("ALTER ANY DATABASE") || p.hasServerPerm("VIEW ANY DEFINITION")
}

// canAlter is ALTER (and DROP) of a database: sysadmin, ALTER ANY DATABASE
// (which dbcreator holds), or db_owner in it.
func (p *principal) canAlter(db string) bool {
	return p.sysadmin() || p.roles["dbcreator"] || p.perms["ALTER ANY DATABASE"] || p.dbRole(db, "db_owner")
}

// LoginDSN is a go-mssqldb connection string for one of Options.Logins
// (database optional), as DSN is for sa.
func (s *Server) LoginDSN(login, password, database string) string {
	q := url.Values{}
	if database != "" {
		q.Set("database", database)
	}
	q.Set("encrypt", "disable")
	u := url.URL{Scheme: "sqlserver", User: url.UserPassword(login, password), Host: s.Addr(), RawQuery: q.Encode()}
	return u.String()
}

// ownerName is what a database this login creates records as its owner.
func (p *principal) ownerName() string {
	if p == nil || p.sa {
		return ""
	}
	return p.name
}

// hasPermsByName is HAS_PERMS_BY_NAME(securable, securable_class,
// permission) for what the simulator models: server permissions (NULL,
// NULL), a database's BACKUP DATABASE/BACKUP LOG/CREATE DATABASE
// ('DATABASE'), SELECT on msdb's history tables ('OBJECT'). 1 or 0; NULL
// for what it does not know (as the server answers NULL for a securable it
// cannot find). Callers hold srv.mu.
// https://learn.microsoft.com/sql/t-sql/functions/has-perms-by-name-transact-sql
func (x *execCtx) hasPermsByName(args []value) (value, *sqlError) {
	if len(args) < 3 || len(args) > 5 {
		return value{}, newErr(174, 15, "The has_perms_by_name function requires 3 to 5 argument(s).")
	}
	str := func(v value) string {
		if v.isNull() {
			return ""
		}
		return strings.TrimSpace(toString(v))
	}
	securable, class, perm := str(args[0]), strings.ToUpper(str(args[1])), strings.ToUpper(str(args[2]))
	p := x.s.who
	yes := func(ok bool) (value, *sqlError) {
		if ok {
			return intVal(1), nil
		}
		return intVal(0), nil
	}
	switch class {
	case "", "SERVER":
		if securable == "" && containsFold(knownServerPerms, perm) {
			return yes(p.hasServerPerm(perm))
		}
	case "DATABASE":
		_, _, sys := systemDB(securable) // callers of eval hold srv.mu
		if !sys && x.s.srv.st.db(securable) == nil {
			break
		}
		switch perm {
		case "BACKUP DATABASE", "BACKUP LOG":
			return yes(p.dbRole(securable, "db_backupoperator"))
		case "CREATE DATABASE":
			return yes(strings.EqualFold(securable, "master") && p.canCreateDatabase())
		}
	case "OBJECT":
		parts := strings.Split(strings.ToLower(securable), ".")
		if len(parts) == 3 && parts[0] == "msdb" && parts[1] == "dbo" && perm == "SELECT" {
			switch parts[2] {
			case "backupset", "backupmediafamily", "restorehistory":
				return yes(x.denyMsdb(parts[2]) == nil)
			}
		}
	}
	return null(tInt), nil
}

// isSrvRoleMember is IS_SRVROLEMEMBER(role): 1 or 0 for the fixed server
// roles the simulator models, NULL for others.
// https://learn.microsoft.com/sql/t-sql/functions/is-srvrolemember-transact-sql
func (x *execCtx) isSrvRoleMember(args []value) (value, *sqlError) {
	if len(args) < 1 || len(args) > 2 {
		return value{}, newErr(174, 15, "The is_srvrolemember function requires 1 to 2 argument(s).")
	}
	if len(args) == 2 || args[0].isNull() {
		return null(tInt), nil
	}
	role := strings.ToLower(strings.TrimSpace(toString(args[0])))
	if !containsFold(knownServerRoles, role) {
		return null(tInt), nil
	}
	p := x.s.who
	if p.sysadmin() && role == "sysadmin" || p != nil && p.roles[role] {
		return intVal(1), nil
	}
	return intVal(0), nil
}
