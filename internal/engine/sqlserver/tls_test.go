package sqlserver

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/microsoft/go-mssqldb/msdsn"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
)

// tlsSim starts a simulator with a certificate for 127.0.0.1 and returns it
// with the path of the PEM file of the CA that signed it.
func tlsSim(t *testing.T, opts sqlsim.Options) (*sqlsim.Server, string) {
	t.Helper()
	cert, err := sqlsim.NewTestCertificate("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, cert.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	opts.Certificate, opts.DataDir, opts.Logf = &cert.Certificate, t.TempDir(), t.Logf
	srv, err := sqlsim.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, ca
}

// dsnWith is srv's sa connection string with these parameters instead of
// encrypt=disable.
func dsnWith(t *testing.T, srv *sqlsim.Server, params ...string) string {
	t.Helper()
	u, err := url.Parse(srv.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		q.Set(params[i], params[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// encrypt=true with the CA named by certificate= (and encrypt=strict against
// a server that requires TDS 8.0): the engine backs up and restores
// through TLS.
func TestTLS_VerifiedConnectionsBackUpAndRestore(t *testing.T) {
	for _, c := range []struct {
		name    string
		opts    sqlsim.Options
		encrypt string
	}{
		{"encrypt=true", sqlsim.Options{}, "true"},
		{"encrypt=true, server forcing encryption", sqlsim.Options{ForceEncryption: true}, "true"},
		{"encrypt=strict, strict server", sqlsim.Options{Strict: true}, "strict"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, pca := tlsSim(t, c.opts)
			s, sca := tlsSim(t, c.opts)
			primary := open(t, dsnWith(t, p, "encrypt", c.encrypt, "certificate", pca))
			target := open(t, dsnWith(t, s, "encrypt", c.encrypt, "certificate", sca))
			f := &fixture{backupDir: t.TempDir(), undoDir: t.TempDir(), dataDir: t.TempDir(), logDir: t.TempDir()}
			admin := openDB(t, dsnWith(t, p, "encrypt", c.encrypt, "certificate", pca))
			exec(t, admin, "CREATE DATABASE [Sales]")
			full := f.backup(t, primary, "Sales", artifact.Full, "full.bak")
			insert(t, admin, "Sales", 1)
			log := f.backup(t, primary, "Sales", artifact.Log, "1.trn")
			f.restore(t, target, f.restoreRequest("Sales", artifact.Full, "full.bak", engine.StandbyMode))
			f.restore(t, target, f.restoreRequest("Sales", artifact.Log, "1.trn", engine.StandbyMode))
			if got := standbyOf(t, target, "Sales"); got.LastRestore == nil || got.LastRestore.LastLSN != log.LastLSN {
				t.Errorf("standby after %s..%s: %+v", full.FirstLSN, log.LastLSN, got)
			}
		})
	}
}

// A connection that fails in TLS says what to change in the connection
// string, without the connection string's password.
func TestTLS_FailuresSayWhatToSet(t *testing.T) {
	withCert, ca := tlsSim(t, sqlsim.Options{})
	forced, _ := tlsSim(t, sqlsim.Options{ForceEncryption: true})
	plain, err := sqlsim.Start(sqlsim.Options{DataDir: t.TempDir(), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plain.Close() })
	cases := []struct {
		name string
		dsn  string
		want []string
	}{
		{"a certificate nobody told drsctl to trust", dsnWith(t, withCert, "encrypt", "true"),
			[]string{"x509", "the server's certificate is not trusted", "certificate=<PEM file", "trustservercertificate=true"}},
		{"a certificate for another name", dsnWith(t, withCert, "encrypt", "true", "hostnameincertificate", "sql.example.test", "certificate", ca),
			[]string{"hostnameincertificate="}},
		{"another CA's certificate", dsnWith(t, withCert, "encrypt", "true", "certificate", writeCA(t)),
			[]string{"x509", "the server's certificate is not trusted"}},
		{"encrypt=disable at a server forcing encryption", dsnWith(t, forced, "encrypt", "disable"),
			[]string{"the server requires encryption (Force Encryption)", "encrypt=true"}},
		{"encrypt=true at a server without a certificate", dsnWith(t, plain, "encrypt", "true"),
			[]string{"server does not support encryption", "give the server a certificate"}},
		{"encrypt=strict at a server that does not speak TDS 8.0", dsnWith(t, plain, "encrypt", "strict"),
			[]string{"encrypt=strict (TDS 8.0) needs SQL Server 2022"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := New().Open(context.Background(), c.dsn)
			if err == nil {
				s.Close()
				t.Fatal("connected")
			}
			t.Logf("the operator reads: %v", err)
			wantContains(t, err, c.want...)
			if strings.Contains(err.Error(), "sqlsim@") || strings.Contains(err.Error(), c.dsn) {
				t.Errorf("the connection string is in the error: %v", err)
			}
		})
	}
}

// writeCA is the PEM file of a CA that signed nothing the servers use.
func writeCA(t *testing.T) string {
	t.Helper()
	c, err := sqlsim.NewTestCertificate("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(p, c.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Connection strings that verify nothing, or encrypt nothing, across a
// network are said so; on loopback, and with a verified certificate,
// nothing is said.
func TestTLSWarning(t *testing.T) {
	pem := writeCA(t)
	for _, c := range []struct {
		dsn  string
		want string // "" = no warning
	}{
		{"sqlserver://drs:pw@db.example:1433", "does not set encrypt"},
		{"server=db.example;user id=drs;password=pw", "does not set encrypt"},
		{"sqlserver://drs:pw@db.example?encrypt=true&trustservercertificate=true", "trustservercertificate=true"},
		{"sqlserver://drs:pw@db.example?encrypt=disable", "encrypt=disable"},
		{"sqlserver://drs:pw@db.example?encrypt=true", ""},
		{"sqlserver://drs:pw@db.example?encrypt=true&certificate=" + url.QueryEscape(pem), ""},
		{"sqlserver://drs:pw@db.example?encrypt=true&servercertificate=" + url.QueryEscape(pem), ""}, // pinned: not "any certificate"
		{"sqlserver://drs:pw@db.example?trustservercertificate=false", "does not set encrypt"},
		{"sqlserver://drs:pw@db.example?encrypt=strict&trustservercertificate=true", ""}, // strict ignores it
		{"sqlserver://drs:pw@db.example?encrypt=false", ""},
		{"sqlserver://drs:pw@127.0.0.1:1433?encrypt=disable", ""},
		{"sqlserver://drs:pw@localhost", ""},
		{"sqlserver://drs:pw@[::1]:1433?encrypt=true&trustservercertificate=true", ""},
	} {
		cfg, err := msdsn.Parse(c.dsn)
		if err != nil {
			t.Fatalf("%s: %v", c.dsn, err)
		}
		got := tlsWarning(cfg)
		switch {
		case c.want == "" && got != "":
			t.Errorf("%s: warned %q", c.dsn, got)
		case c.want != "" && !strings.Contains(got, c.want):
			t.Errorf("%s: warning %q, want one about %q", c.dsn, got, c.want)
		}
		if strings.Contains(got, "pw") {
			t.Errorf("%s: the password is in the warning: %q", c.dsn, got)
		}
	}
}
