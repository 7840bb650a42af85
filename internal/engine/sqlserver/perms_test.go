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

// Before anything is attempted, the engine says which grant a login lacks
// for what it will be asked to do, and that a check it could not make was
// not made.
func TestLeastPrivilege_AdviceBeforeAnythingFails(t *testing.T) {
	ctx := context.Background()
	advise := func(t *testing.T, dsn string, req engine.AdviceRequest) []string {
		t.Helper()
		s := open(t, dsn)
		a, ok := s.(engine.Advisor)
		if !ok {
			t.Fatal("the sqlserver session is not an engine.Advisor")
		}
		var out []string
		for _, x := range a.Advise(ctx, req) {
			out = append(out, x.Summary+" | "+x.Detail)
		}
		return out
	}
	want := func(t *testing.T, got []string, parts ...string) {
		t.Helper()
		if len(got) != len(parts) {
			t.Fatalf("advice %q, want %d", got, len(parts))
		}
		for i, p := range parts {
			for _, frag := range strings.Split(p, " | ") { // summary | detail
				if !strings.Contains(got[i], frag) {
					t.Errorf("advice %q does not contain %q", got[i], frag)
				}
			}
		}
	}
	primary := engine.AdviceRequest{Primary: true, Databases: []string{"Sales", "Missing"}}
	standby := engine.AdviceRequest{Databases: []string{"Sales"}, DisconnectUsers: true}

	t.Run("the documented grants", func(t *testing.T) {
		f := newPermFixture(t, primaryGrants, standbyGrants)
		f.createDatabase(t, "Sales")
		want(t, advise(t, f.primaryLogin, primary))
		want(t, advise(t, f.standbyLogin, standby))
		want(t, advise(t, f.primaryDSN, primary)) // sa
		want(t, advise(t, f.targetDSN, standby))
	})
	t.Run("a primary login without CREATE DATABASE nor db_backupoperator", func(t *testing.T) {
		f := newPermFixture(t, without(without(primaryGrants, "CREATE ANY DATABASE"), "Sales:db_backupoperator"), standbyGrants)
		f.createDatabase(t, "Sales")
		want(t, advise(t, f.primaryLogin, primary),
			"login [drs_primary] lacks CREATE DATABASE permission | GRANT CREATE ANY DATABASE TO [drs_primary];",
			"login [drs_primary] may not back up [Sales]: BACKUP DATABASE and BACKUP LOG will fail (error 262) | USE [Sales]; CREATE USER [drs_primary] FOR LOGIN [drs_primary]; ALTER ROLE [db_backupoperator] ADD MEMBER [drs_primary];")
	})
	t.Run("a standby login without processadmin nor VIEW SERVER STATE", func(t *testing.T) {
		f := newPermFixture(t, primaryGrants, without(without(standbyGrants, "processadmin"), "VIEW SERVER STATE"))
		want(t, advise(t, f.standbyLogin, standby),
			"lacks ALTER ANY CONNECTION | ALTER SERVER ROLE [processadmin] ADD MEMBER [drs_standby];",
			"lacks VIEW SERVER STATE | GRANT VIEW SERVER STATE TO [drs_standby];")
		want(t, advise(t, f.standbyLogin, engine.AdviceRequest{Databases: []string{"Sales"}})) // no disconnect_users: not needed
	})
	t.Run("a standby login with CREATE ANY DATABASE only", func(t *testing.T) {
		f := newPermFixture(t, primaryGrants, sqlsim.Login{Name: "drs_standby", Password: "pw", Permissions: []string{"CREATE ANY DATABASE"}})
		want(t, advise(t, f.standbyLogin, engine.AdviceRequest{Databases: []string{"Sales"}}),
			"is not in dbcreator: it may restore only databases it created itself | ALTER SERVER ROLE [dbcreator] ADD MEMBER [drs_standby];")
	})
	t.Run("a standby login with nothing", func(t *testing.T) {
		f := newPermFixture(t, primaryGrants, sqlsim.Login{Name: "drs_standby", Password: "pw"})
		want(t, advise(t, f.standbyLogin, engine.AdviceRequest{Databases: []string{"Sales"}}),
			"lacks CREATE DATABASE and dbcreator: every restore will fail")
	})
	t.Run("a check the server does not answer", func(t *testing.T) {
		f := newPermFixture(t, primaryGrants, standbyGrants)
		f.sims[1].FailFatal("SELECT IS_SRVROLEMEMBER", 21, 20, "sqlsim: the check itself failed")
		want(t, advise(t, f.standbyLogin, standby),
			"could not check the permissions of login [drs_standby] | ask 127.0.0.1")
	})
}

// Permission errors the simulator does not raise (300 comes from DMVs the
// engine does not read today) still say what to grant; others say nothing.
func TestGrantHint(t *testing.T) {
	for _, c := range []struct {
		login  string
		number int32
		msg    string
		want   string
	}{
		{"drs", 300, "VIEW SERVER STATE permission was denied on object 'server', database 'master'.", "GRANT VIEW SERVER STATE TO [drs]"},
		{"drs", 300, "VIEW SERVER PERFORMANCE STATE permission was denied on object 'server', database 'master'.", "GRANT VIEW SERVER STATE TO [drs]"},
		{"drs", 262, "BACKUP LOG permission denied in database 'O'Brien]'.", "USE [O'Brien]]]; CREATE USER [drs]"},
		{"", 262, "CREATE DATABASE permission denied in database 'master'.", "the login drsctl connects as needs CREATE DATABASE"},
		{`CORP\svc]x`, 6102, "User does not have permission to use the KILL statement.", `ALTER SERVER ROLE [processadmin] ADD MEMBER [CORP\svc]]x]`},
		{"drs", 229, "The SELECT permission was denied on the object 'foo', database 'Sales', schema 'dbo'.", "needs SELECT on [Sales].[dbo].[foo]"},
		{"drs", 5011, "User does not have permission to alter database 'Sales', the database does not exist, or the database is not in a state that allows access checks.", "ALTER SERVER ROLE [dbcreator] ADD MEMBER [drs]"},
		{"drs", 4305, "The log in this backup set begins at LSN 1, which is too recent to apply to the database.", ""},
		{"drs", 262, "something else entirely", ""},
	} {
		got := grantHint(c.login, c.number, c.msg)
		if c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("%d %q: %q, want %q", c.number, c.msg, got, c.want)
		}
	}
}
