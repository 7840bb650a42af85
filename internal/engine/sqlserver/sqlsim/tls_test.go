package sqlsim

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// withParams is srv's sa DSN with its query replaced by params.
func withParams(t *testing.T, srv *Server, params map[string]string) string {
	t.Helper()
	u, err := url.Parse(srv.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{}
	for k, v := range params {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func testCert(t *testing.T, hosts ...string) (*TestCertificate, string) {
	t.Helper()
	c, err := NewTestCertificate(hosts...)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, c.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return c, path
}

func ping(dsn string) error {
	db, err := sql.Open("sqlserver", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	var n int
	return db.QueryRowContext(context.Background(), "SELECT 1").Scan(&n)
}

// The encryption a client asks for meets what the server offers, as in
// MS-TDS's PRELOGIN table; go-mssqldb is the client.
func TestTLS_Negotiation(t *testing.T) {
	cert, ca := testCert(t, "127.0.0.1", "sql.example.test")
	plain := startSim(t, Options{})
	withCert := startSim(t, Options{Certificate: &cert.Certificate})
	forced := startSim(t, Options{Certificate: &cert.Certificate, ForceEncryption: true})
	strict := startSim(t, Options{Certificate: &cert.Certificate, Strict: true})
	other, _ := testCert(t, "127.0.0.1")
	stranger := startSim(t, Options{Certificate: &other.Certificate})

	cases := []struct {
		name    string
		srv     *Server
		params  map[string]string
		wantErr string // "" = connects; alternatives separated by |
	}{
		{"disable, server without certificate", plain, map[string]string{"encrypt": "disable"}, ""},
		{"unset (login only, any certificate), server without certificate", plain, nil, ""},
		{"true, server without certificate", plain, map[string]string{"encrypt": "true", "certificate": ca}, "server does not support encryption"},
		{"true with the CA", withCert, map[string]string{"encrypt": "true", "certificate": ca}, ""},
		{"true with the CA, another name in the certificate", withCert, map[string]string{"encrypt": "true", "certificate": ca, "hostnameincertificate": "sql.example.test"}, ""},
		{"true with the CA, a name not in the certificate", withCert, map[string]string{"encrypt": "true", "certificate": ca, "hostnameincertificate": "other.example.test"}, "certificate is valid for"},
		{"true without the CA", withCert, map[string]string{"encrypt": "true"}, "certificate signed by unknown authority"},
		{"true, another CA's certificate", stranger, map[string]string{"encrypt": "true", "certificate": ca}, "certificate signed by unknown authority"},
		{"true, trustservercertificate", stranger, map[string]string{"encrypt": "true", "trustservercertificate": "true"}, ""},
		{"unset (login only, any certificate)", stranger, nil, ""},
		{"false (login only) with the CA", withCert, map[string]string{"encrypt": "false", "certificate": ca}, ""},
		{"false without the CA: the login is encrypted and verified", withCert, map[string]string{"encrypt": "false"}, "certificate signed by unknown authority"},
		{"disable, server with a certificate", withCert, map[string]string{"encrypt": "disable"}, ""},
		{"disable, server forcing encryption", forced, map[string]string{"encrypt": "disable"}, "TLS Handshake failed"},
		{"false, server forcing encryption: everything encrypted", forced, map[string]string{"encrypt": "false", "certificate": ca}, ""},
		{"true, server forcing encryption", forced, map[string]string{"encrypt": "true", "certificate": ca}, ""},
		{"strict, strict server", strict, map[string]string{"encrypt": "strict", "certificate": ca}, ""},
		{"strict without the CA", strict, map[string]string{"encrypt": "strict"}, "certificate signed by unknown authority"},
		{"strict ignores trustservercertificate", strict, map[string]string{"encrypt": "strict", "trustservercertificate": "true"}, "certificate signed by unknown authority"},
		{"true (TDS 7.4), strict server", strict, map[string]string{"encrypt": "true", "certificate": ca}, "EOF|connection reset"},
		{"strict, server with a certificate", withCert, map[string]string{"encrypt": "strict", "certificate": ca}, ""},
		{"strict, server without certificate", plain, map[string]string{"encrypt": "strict", "certificate": ca}, "TLS Handshake failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := ping(withParams(t, c.srv, c.params))
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("connect: %v", err)
			case c.wantErr != "" && err == nil:
				t.Fatalf("connected, want an error containing %q", c.wantErr)
			case c.wantErr != "" && !containsAny(err.Error(), strings.Split(c.wantErr, "|")):
				t.Fatalf("error %q does not contain %q", err, c.wantErr)
			}
		})
	}
}

// Once encrypted, the whole conversation works: batches, RPC, BACKUP with
// progress messages, under full encryption, login-only and TDS 8.0.
func TestTLS_Conversation(t *testing.T) {
	cert, ca := testCert(t, "127.0.0.1")
	for _, c := range []struct {
		name   string
		opts   Options
		params map[string]string
	}{
		{"full", Options{Certificate: &cert.Certificate}, map[string]string{"encrypt": "true", "certificate": ca}},
		{"login only", Options{Certificate: &cert.Certificate}, map[string]string{"encrypt": "false", "certificate": ca}},
		{"forced", Options{Certificate: &cert.Certificate, ForceEncryption: true}, map[string]string{"encrypt": "false", "certificate": ca}},
		{"strict", Options{Certificate: &cert.Certificate, Strict: true}, map[string]string{"encrypt": "strict", "certificate": ca}},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := startSim(t, c.opts)
			db, err := sql.Open("sqlserver", withParams(t, srv, c.params))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			mustExec(t, db, "CREATE DATABASE [Sales]")
			mustExec(t, db, "INSERT INTO [Sales].dbo.drs_probe (id, note) VALUES (@p1, @p2)", 1, strings.Repeat("x", 150))
			mustExec(t, db, "BACKUP DATABASE [Sales] TO DISK = "+quoteString(bakPath(t.TempDir(), "full.bak"))+" WITH CHECKSUM, FORMAT, INIT, STATS = 10")
			if n := queryInt(t, db, "SELECT COUNT(*) FROM [Sales].dbo.drs_probe"); n != 1 {
				t.Errorf("rows: %d", n)
			}
		})
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
