package sqlsim

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestFreeTDS checks the simulator against an independent TDS client,
// FreeTDS's tsql (Debian package freetds-bin), not only go-mssqldb.
func TestFreeTDS(t *testing.T) {
	tsql, err := exec.LookPath("tsql")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tsql (Debian package freetds-bin) is required in CI")
		}
		t.Skip("tsql not installed (apt-get install freetds-bin)")
	}
	srv := startSim(t, Options{Password: "pw"})
	db := openDB(t, srv, "")
	mustExec(t, db, "CREATE DATABASE [Free Tds]; INSERT INTO [Free Tds].dbo.drs_probe (id, note) VALUES (1, N'héllo'), (2, NULL)")

	host, port, _ := strings.Cut(srv.Addr(), ":")
	run := func(password, script string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, tsql, "-H", host, "-p", port, "-U", "sa", "-P", password)
		cmd.Env = append(os.Environ(), "TDSVER=7.4", "LANG=C.UTF-8", "FREETDSCONF=/dev/null")
		cmd.Stdin = strings.NewReader(script)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Logf("tsql: %v", err)
		}
		return string(out)
	}

	out := run("pw", "SELECT 1 AS one\ngo\nSELECT id, note FROM [Free Tds].dbo.drs_probe ORDER BY id\ngo\nSELECT * FROM dbo.nope\ngo\nexit\n")
	t.Log(out)
	for _, want := range []string{
		"one\n1\n",
		"id\tnote\n1\théllo\n2\tNULL\n",
		"(2 rows affected)",
		"Msg 208 (severity 16, state 1) from SQLSIM",
		"Invalid object name 'dbo.nope'.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tsql output lacks %q", want)
		}
	}

	out = run("wrong", "SELECT 1\ngo\nexit\n")
	if !strings.Contains(out, "Login failed for user 'sa'.") {
		t.Errorf("tsql with a wrong password:\n%s", out)
	}
}
