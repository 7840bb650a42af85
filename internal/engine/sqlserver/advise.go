package sqlserver

import (
	"context"
	"database/sql"

	"github.com/drsctl/drsctl/internal/engine"
)

// What a login may do, asked before anything is attempted (perms.go has
// why each is needed). HAS_PERMS_BY_NAME answers 1, 0, or NULL when it
// cannot tell; IS_SRVROLEMEMBER 1 or 0.
const (
	queryCreateDatabasePerm = `SELECT HAS_PERMS_BY_NAME(N'master', N'DATABASE', N'CREATE DATABASE')`
	queryBackupPerms        = `SELECT DB_ID(@p1), HAS_PERMS_BY_NAME(@p1, N'DATABASE', N'BACKUP DATABASE'), HAS_PERMS_BY_NAME(@p1, N'DATABASE', N'BACKUP LOG')`
	queryStandbyPerms       = `SELECT IS_SRVROLEMEMBER(N'sysadmin'), IS_SRVROLEMEMBER(N'dbcreator'), ` +
		`HAS_PERMS_BY_NAME(N'master', N'DATABASE', N'CREATE DATABASE')`
)

// backupPerms is queryBackupPerms's answer for one database.
type backupPerms struct{ id, full, log sql.NullInt64 }

// Advise says what the connection's TLS settings leave open and which
// grant the login lacks for what it will be asked to do. A check the
// server does not answer is reported as not checked, never as a failure.
func (s *session) Advise(ctx context.Context, req engine.AdviceRequest) []engine.Advice {
	var out []engine.Advice
	if s.tlsWarning != "" {
		out = append(out, engine.Advice{Summary: "the connection to " + s.server + " is not protected by a verified certificate", Detail: s.tlsWarning})
	}
	who, l := "the login drsctl connects as", "[<login>]"
	if s.login != "" {
		who, l = "login "+quoteIdent(s.login), quoteIdent(s.login)
	}
	notChecked := func(err error) []engine.Advice {
		return append(out, engine.Advice{Summary: "could not check the permissions of " + who,
			Detail: s.fail(ctx, "ask "+s.server+" for the login's permissions", err).Error()})
	}
	var createDB sql.NullInt64
	if req.Primary {
		if err := s.db.QueryRowContext(ctx, queryCreateDatabasePerm).Scan(&createDB); err != nil {
			return notChecked(err)
		}
		if createDB.Valid && createDB.Int64 == 0 {
			out = append(out, engine.Advice{Summary: who + " lacks CREATE DATABASE permission: every backup will fail when drsctl reads its header (RESTORE HEADERONLY, error 262)",
				Detail: "GRANT CREATE ANY DATABASE TO " + l + ";"})
		}
		perms, failed, err := eachDatabase(ctx, req.Databases, func(ctx context.Context, db string) (backupPerms, error) {
			var p backupPerms
			err := s.db.QueryRowContext(ctx, queryBackupPerms, db).Scan(&p.id, &p.full, &p.log)
			return p, err
		})
		if err != nil {
			// What the databases before the one not answered lack, as when
			// they were asked one after another.
			perms = perms[:failed]
		}
		for i, p := range perms {
			db, id, full, log := req.Databases[i], p.id, p.full, p.log
			if !id.Valid {
				continue // the observation says it does not exist
			}
			grant := "USE " + quoteIdent(db) + "; CREATE USER " + l + " FOR LOGIN " + l + "; ALTER ROLE [db_backupoperator] ADD MEMBER " + l + ";"
			switch {
			case !full.Valid || !log.Valid:
				out = append(out, engine.Advice{Summary: "could not check whether " + who + " may back up " + quoteIdent(db) + " (it may have no user there)",
					Detail: "If backups fail with error 262: " + grant})
			case full.Int64 == 0 || log.Int64 == 0:
				out = append(out, engine.Advice{Summary: who + " may not back up " + quoteIdent(db) + ": BACKUP DATABASE and BACKUP LOG will fail (error 262)",
					Detail: grant})
			}
		}
		if err != nil {
			return notChecked(err)
		}
		return out
	}
	var sysadmin, dbcreator sql.NullInt64
	if err := s.db.QueryRowContext(ctx, queryStandbyPerms).Scan(&sysadmin, &dbcreator, &createDB); err != nil {
		return notChecked(err)
	}
	if sysadmin.Int64 == 1 {
		return out
	}
	switch {
	case dbcreator.Int64 == 1:
	case createDB.Valid && createDB.Int64 == 0:
		out = append(out, engine.Advice{Summary: who + " lacks CREATE DATABASE and dbcreator: every restore will fail (errors 262, 3110)",
			Detail: "ALTER SERVER ROLE [dbcreator] ADD MEMBER " + l + ";"})
	default:
		out = append(out, engine.Advice{Summary: who + " is not in dbcreator: it may restore only databases it created itself (error 3110 for the others)",
			Detail: "ALTER SERVER ROLE [dbcreator] ADD MEMBER " + l + ";"})
	}
	return out
}
