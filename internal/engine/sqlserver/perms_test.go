package sqlserver

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
)

// The README's minimum grants, as simulator logins.
var (
	primaryGrants = sqlsim.Login{Name: "drs_primary", Password: "pw",
		Permissions:   []string{"CREATE ANY DATABASE"},
		DatabaseRoles: map[string][]string{"Sales": {"db_backupoperator"}, "msdb": {"db_datareader"}}}
	standbyGrants = sqlsim.Login{Name: "drs_standby", Password: "pw",
		ServerRoles:   []string{"dbcreator", "processadmin"},
		Permissions:   []string{"VIEW SERVER STATE"},
		DatabaseRoles: map[string][]string{"msdb": {"db_datareader"}}}
)

// permFixture is a primary and a standby whose drsctl logins have what
// primary and standby say (sa administers both).
type permFixture struct {
	*fixture
	primaryLogin, standbyLogin string // DSNs of the two logins
}

func newPermFixture(t *testing.T, primary, standby sqlsim.Login) *permFixture {
	t.Helper()
	start := func(name string, l sqlsim.Login) *sqlsim.Server {
		srv, err := sqlsim.Start(sqlsim.Options{DataDir: t.TempDir(), Name: name, Logf: t.Logf, Logins: []sqlsim.Login{l}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		return srv
	}
	p, s := start("PRIMARY", primary), start("STANDBY", standby)
	f := &fixture{primaryDSN: p.DSN(""), targetDSN: s.DSN(""),
		backupDir: t.TempDir(), undoDir: t.TempDir(), dataDir: t.TempDir(), logDir: t.TempDir(),
		createProbe: func(*testing.T, string) {}, sims: []*sqlsim.Server{p, s}}
	f.primary, f.target = openDB(t, f.primaryDSN), openDB(t, f.targetDSN)
	return &permFixture{fixture: f,
		primaryLogin: p.LoginDSN(primary.Name, primary.Password, ""),
		standbyLogin: s.LoginDSN(standby.Name, standby.Password, "")}
}

// without is l with one grant taken away.
func without(l sqlsim.Login, grant string) sqlsim.Login {
	out := sqlsim.Login{Name: l.Name, Password: l.Password, DatabaseRoles: map[string][]string{}}
	for _, r := range l.ServerRoles {
		if r != grant {
			out.ServerRoles = append(out.ServerRoles, r)
		}
	}
	for _, p := range l.Permissions {
		if p != grant {
			out.Permissions = append(out.Permissions, p)
		}
	}
	for db, rs := range l.DatabaseRoles {
		for _, r := range rs {
			if db+":"+r != grant {
				out.DatabaseRoles[db] = append(out.DatabaseRoles[db], r)
			}
		}
	}
	return out
}

// A login with exactly the README's grants ships a database end to end:
// observe, full and log backups, headers, a STANDBY restore with a reader
// disconnected, the standby's history, and promotion.
func TestLeastPrivilege_TheDocumentedGrantsSuffice(t *testing.T) {
	f := newPermFixture(t, primaryGrants, standbyGrants)
	primary, target := open(t, f.primaryLogin), open(t, f.standbyLogin)
	ctx := context.Background()
	f.createDatabase(t, "Sales")

	primaryOf(t, primary, "Sales", time.Time{})
	full := f.backup(t, primary, "Sales", artifact.Full, "full.bak")
	insert(t, f.primary, "Sales", 1)
	log := f.backup(t, primary, "Sales", artifact.Log, "1.trn")
	mustContinue(t, full, log)
	if got := primaryOf(t, primary, "Sales", time.Time{}); len(got.Backups) != 2 {
		t.Errorf("primary history: %d backups, want 2", len(got.Backups))
	}
	if _, err := primary.Describe(ctx, f.path("1.trn")); err != nil {
		t.Fatalf("describe: %v", err)
	}

	f.restore(t, target, f.restoreRequest("Sales", artifact.Full, "full.bak", engine.StandbyMode))
	reader := openReader(t, f.targetDSN, "Sales")
	req := f.restoreRequest("Sales", artifact.Log, "1.trn", engine.StandbyMode)
	req.DisconnectUsers = true
	f.restore(t, target, req)
	if err := reader.PingContext(ctx); err == nil {
		t.Errorf("the reader's session survived")
	}
	if got := standbyOf(t, target, "Sales"); got.LastRestore == nil || got.LastRestore.LastLSN != log.LastLSN {
		t.Errorf("standby: %+v, want the log restored last", got)
	}
	if err := target.Recover(ctx, engine.RecoverRequest{Database: "Sales", DisconnectUsers: true}); err != nil {
		t.Fatalf("recover: %v", err)
	}
}

// openReader parks a session in database on the server dsn names.
func openReader(t *testing.T, dsn, database string) *sql.Conn {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("database", database)
	u.RawQuery = q.Encode()
	c, err := openDB(t, u.String()).Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var n int
	if err := c.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM dbo.drs_probe").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return c
}

// Each grant taken away: the server's refusal reaches the operator with its
// number and words, and with the statement that grants what is missing.
func TestLeastPrivilege_AMissingGrantSaysWhatToGrant(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name             string
		primary, standby sqlsim.Login
		run              func(t *testing.T, f *permFixture) error
		want             []string
	}{
		{"primary without db_backupoperator", without(primaryGrants, "Sales:db_backupoperator"), standbyGrants,
			func(t *testing.T, f *permFixture) error {
				_, err := open(t, f.primaryLogin).Backup(ctx, engine.BackupRequest{Database: "Sales", Kind: artifact.Full, ServerPath: f.path("full.bak")}, engine.NoProgress)
				return err
			},
			[]string{"SQL Server error 262: BACKUP DATABASE permission denied in database 'Sales'.",
				"the login [drs_primary] needs BACKUP DATABASE and BACKUP LOG in [Sales]",
				"USE [Sales]; CREATE USER [drs_primary] FOR LOGIN [drs_primary]; ALTER ROLE [db_backupoperator] ADD MEMBER [drs_primary]"}},
		{"primary without CREATE DATABASE (HEADERONLY after the backup)", without(primaryGrants, "CREATE ANY DATABASE"), standbyGrants,
			func(t *testing.T, f *permFixture) error {
				_, err := open(t, f.primaryLogin).Backup(ctx, engine.BackupRequest{Database: "Sales", Kind: artifact.Full, ServerPath: f.path("full.bak")}, engine.NoProgress)
				return err
			},
			[]string{"SQL Server error 262: CREATE DATABASE permission denied in database 'master'.",
				"the login [drs_primary] needs CREATE DATABASE permission", "GRANT CREATE ANY DATABASE TO [drs_primary]"}},
		{"primary without msdb read", without(primaryGrants, "msdb:db_datareader"), standbyGrants,
			func(t *testing.T, f *permFixture) error {
				_, err := open(t, f.primaryLogin).ObservePrimary(ctx, []string{"Sales"}, time.Time{})
				return err
			},
			[]string{"SQL Server error 229: The SELECT permission was denied on the object 'backupset', database 'msdb', schema 'dbo'.",
				"USE [msdb]; CREATE USER [drs_primary] FOR LOGIN [drs_primary]; ALTER ROLE [db_datareader] ADD MEMBER [drs_primary]"}},
		{"standby without CREATE DATABASE (a new database)", primaryGrants, sqlsim.Login{Name: "drs_standby", Password: "pw"},
			func(t *testing.T, f *permFixture) error {
				f.backup(t, open(t, f.primaryDSN), "Sales", artifact.Full, "full.bak")
				return open(t, f.standbyLogin).Restore(ctx, f.restoreRequest("Sales", artifact.Full, "full.bak", engine.NoRecovery), engine.NoProgress)
			},
			[]string{"SQL Server error 262: CREATE DATABASE permission denied in database 'master'.",
				"ALTER SERVER ROLE [dbcreator] ADD MEMBER [drs_standby]"}},
		{"standby without dbcreator (restoring over a database another login seeded)", primaryGrants,
			sqlsim.Login{Name: "drs_standby", Password: "pw", Permissions: []string{"CREATE ANY DATABASE"}},
			func(t *testing.T, f *permFixture) error {
				p := open(t, f.primaryDSN)
				f.backup(t, p, "Sales", artifact.Full, "full.bak")
				f.backup(t, p, "Sales", artifact.Log, "1.trn")
				f.restore(t, open(t, f.targetDSN), f.restoreRequest("Sales", artifact.Full, "full.bak", engine.NoRecovery))
				return open(t, f.standbyLogin).Restore(ctx, f.restoreRequest("Sales", artifact.Log, "1.trn", engine.NoRecovery), engine.NoProgress)
			},
			[]string{"SQL Server error 3110: User does not have permission to RESTORE database 'Sales'.",
				"the login [drs_standby] needs to restore over an existing database: ALTER SERVER ROLE [dbcreator] ADD MEMBER [drs_standby]"}},
		{"standby without processadmin (disconnecting a reader)", primaryGrants, without(standbyGrants, "processadmin"),
			func(t *testing.T, f *permFixture) error {
				p := open(t, f.primaryDSN)
				f.backup(t, p, "Sales", artifact.Full, "full.bak")
				f.backup(t, p, "Sales", artifact.Log, "1.trn")
				target := open(t, f.standbyLogin)
				f.restore(t, target, f.restoreRequest("Sales", artifact.Full, "full.bak", engine.StandbyMode))
				openReader(t, f.targetDSN, "Sales")
				req := f.restoreRequest("Sales", artifact.Log, "1.trn", engine.StandbyMode)
				req.DisconnectUsers = true
				return target.Restore(ctx, req, engine.NoProgress)
			},
			[]string{"SQL Server error 6102: User does not have permission to use the KILL statement.",
				"ALTER SERVER ROLE [processadmin] ADD MEMBER [drs_standby]", "GRANT ALTER ANY CONNECTION TO [drs_standby]"}},
		{"standby without msdb read", primaryGrants, without(standbyGrants, "msdb:db_datareader"),
			func(t *testing.T, f *permFixture) error {
				f.backup(t, open(t, f.primaryDSN), "Sales", artifact.Full, "full.bak")
				f.restore(t, open(t, f.targetDSN), f.restoreRequest("Sales", artifact.Full, "full.bak", engine.NoRecovery))
				_, err := open(t, f.standbyLogin).ObserveStandby(ctx, []string{"Sales"})
				return err
			},
			[]string{"SQL Server error 229", "ALTER ROLE [db_datareader] ADD MEMBER [drs_standby]"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newPermFixture(t, c.primary, c.standby)
			f.createDatabase(t, "Sales")
			err := c.run(t, f)
			t.Logf("the operator reads: %v", err)
			wantContains(t, err, c.want...)
			var se *ServerError
			if !errors.As(err, &se) {
				t.Errorf("%v is not a ServerError", err)
			}
			wantNotContains(t, err, "pw@", ":pw")
		})
	}
}

func wantNotContains(t *testing.T, err error, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if err != nil && strings.Contains(err.Error(), p) {
			t.Errorf("error %q contains %q", err, p)
		}
	}
}
