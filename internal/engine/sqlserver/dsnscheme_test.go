package sqlserver

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
)

// A DSN with a scheme go-mssqldb does not know ("sqlsrv://") used to be read
// as an ADO string and fail with a dial to localhost:1433. It is refused
// before any dial, naming the scheme and the accepted one, never the
// password. A simulator listens on the DSN's own address: the old code
// would not even have reached it.
func TestOpen_UnknownSchemeIsNamed(t *testing.T) {
	sim, err := sqlsim.Start(sqlsim.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Password: "s3cr3t-Pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	addr := sim.Addr()
	for _, c := range []struct{ dsn, want string }{
		{"sqlsrv://sa:s3cr3t-Pw@" + addr + "?database=master", `scheme "sqlsrv://" is unknown: drsctl's SQL Server engine takes a URL sqlserver://USER@HOST:PORT`},
		{"mssql://sa:s3cr3t-Pw@" + addr, `scheme "mssql://" is unknown`},
		{"SQLServer://sa:s3cr3t-Pw@" + addr, `scheme "SQLServer://" is unknown (the scheme is case-sensitive: write it in lower case)`},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := driver{}.Open(ctx, c.dsn)
		if err == nil {
			_, err = s.ObserveStandby(ctx, []string{"Sales"})
			s.Close()
		}
		cancel()
		if err == nil {
			t.Fatalf("%s: no error", strings.SplitN(c.dsn, ":", 2)[0])
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) {
			t.Errorf("error lacks %q:\n%s", c.want, msg)
		}
		for _, bad := range []string{"localhost", "s3cr3t-Pw"} {
			if strings.Contains(msg, bad) {
				t.Errorf("error mentions %q:\n%s", bad, msg)
			}
		}
	}
	// The accepted scheme still opens.
	ctx := context.Background()
	s, err := driver{}.Open(ctx, sim.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.ObserveStandby(ctx, []string{"Sales"}); err != nil {
		t.Fatalf("sqlserver://: %v", err)
	}
}
