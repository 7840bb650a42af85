package cli_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
)

func (h *sqlHarness) drill(o cli.DrillOptions) int {
	h.t.Helper()
	code := h.envFor().Drill(context.Background(), h.globals(), o)
	h.t.Logf("drill %s %v at=%v → %d\n%s\n%s", o.Target, o.Databases, o.At, code, h.stdout.String(), h.stderr.String())
	return code
}

// databases lists the databases on a simulator.
func (h *sqlHarness) databases(s *sqlsim.Server) []string {
	h.t.Helper()
	db, err := sql.Open("sqlserver", s.DSN(""))
	if err != nil {
		h.t.Fatal(err)
	}
	defer db.Close()
	rs, err := db.Query("SELECT name, state_desc FROM sys.databases")
	if err != nil {
		h.t.Fatal(err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var name, st string
		rs.Scan(&name, &st)
		out = append(out, name+" "+st)
	}
	return out
}

func (h *sqlHarness) noScratchLeft(s *sqlsim.Server) {
	h.t.Helper()
	for _, d := range h.databases(s) {
		if strings.HasPrefix(d, "drsctl_drill_") {
			h.t.Errorf("scratch database left on the server: %s", d)
		}
	}
}

// standbyRestores counts the restores into a database in the server's history.
func standbyRestores(s *sqlsim.Server, db string) int {
	n := 0
	for _, r := range s.RestoreHistory() {
		if r.Database == db {
			n++
		}
	}
	return n
}

// lastDropped is what the newest dropped scratch database held.
func lastDropped(t *testing.T, s *sqlsim.Server) sqlsim.DroppedDatabase {
	t.Helper()
	d := s.Dropped()
	if len(d) == 0 {
		t.Fatal("no database was dropped")
	}
	return d[len(d)-1]
}

// TestSQLServer_Drill: drills of a STANDBY target's database against the
// simulators: one that passes, one on a corrupted copy that fails, one to a
// point in time, one with nothing shipped yet; the standby is never touched.
func TestSQLServer_Drill(t *testing.T) {
	h := newSQLHarness(t)
	sales := cli.DrillOptions{Target: "east", Databases: []string{"Sales"}}

	// Nothing shipped yet: a clear error, nothing recorded, nothing created.
	if code := h.drill(sales); code != cli.ExitError || !strings.Contains(h.stderr.String(), "nothing to drill") || !strings.Contains(h.stderr.String(), "apply first") {
		t.Fatalf("drill before any apply: exit %d\n%s", code, h.stderr.String())
	}
	h.noScratchLeft(h.east)

	h.exec(h.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (1, N'one')")
	if code := h.apply(); code != 0 {
		t.Fatalf("seed apply exit %d", code)
	}
	h.exec(h.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (2, N'two'), (3, N'three')")
	waitLogDue()
	if code := h.apply(); code != 0 {
		t.Fatalf("log apply exit %d", code)
	}
	restoresBefore := standbyRestores(h.east, "Sales")
	before := h.state().LookupTargetDatabase("east", "Sales")
	if before == nil || before.Restored == nil || before.Restored.Kind != "log" {
		t.Fatalf("the standby should stand on a log: %+v", before)
	}

	// A drill that passes.
	if code := h.drill(sales); code != 0 {
		t.Fatalf("drill exit %d\n%s", code, h.stderr.String())
	}
	out := h.stdout.String()
	for _, want := range []string{"restored:  Sales_full_", "through " + before.Restored.Artifact, "check:     DBCC CHECKDB found no allocation or consistency errors", "dropped", "Drill passed in"} {
		if !strings.Contains(out, want) {
			t.Errorf("drill output lacks %q:\n%s", want, out)
		}
	}
	td := h.state().LookupTargetDatabase("east", "Sales")
	d := td.LastDrill
	if d == nil || !d.OK || d.Artifact != before.Restored.Artifact || d.Check == "" || d.Error != "" || d.Duration <= 0 || td.DrillOKAt == nil || !td.DrillOKAt.Equal(d.At) {
		t.Fatalf("ledger after a passing drill: %+v (ok at %v)", d, td.DrillOKAt)
	}
	if row := h.statusRow("east", "Sales"); !strings.Contains(row, " ok ") || !strings.Contains(row, "ago") {
		t.Errorf("status after a passing drill: %q", row)
	}
	if got := fmt.Sprint(lastDropped(t, h.east).Rows); got != "[1 2 3]" {
		t.Errorf("the scratch database held %s, want [1 2 3]", got)
	}
	if n := standbyRestores(h.east, "Sales"); n != restoresBefore {
		t.Errorf("the drill restored into the standby: %d restores, was %d", n, restoresBefore)
	}
	if got := fmt.Sprint(h.rows(h.east, "Sales")); got != "[1 2 3]" {
		t.Errorf("standby rows %s", got)
	}
	if !slices.Contains(h.databases(h.east), "Sales ONLINE") { // STANDBY: ONLINE and read-only
		t.Errorf("standby state: %v", h.databases(h.east))
	}
	h.noScratchLeft(h.east)
	var okAt time.Time

	// -json prints one object per database.
	if code := h.envFor().Drill(context.Background(), h.globals(), cli.DrillOptions{Target: "east", Databases: []string{"Sales"}, JSON: true}); code != 0 ||
		!strings.HasPrefix(h.stdout.String(), `{"type":"drill","target":"east","database":"Sales"`) || !strings.Contains(h.stdout.String(), `"ok":true`) {
		t.Errorf("drill -json: exit %d\n%s%s", code, h.stdout.String(), h.stderr.String())
	}

	// -at: a row written after the point is not in the scratch copy.
	h.exec(h.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (4, N'four')")
	waitLogDue()
	if code := h.apply(); code != 0 {
		t.Fatalf("apply: exit %d", code)
	}
	h.exec(h.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (10, N'before')")
	time.Sleep(300 * time.Millisecond)
	at := time.Now().UTC()
	time.Sleep(300 * time.Millisecond)
	h.exec(h.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (11, N'after')")
	waitLogDue()
	if code := h.apply(); code != 0 {
		t.Fatalf("apply: exit %d", code)
	}
	if code := h.drill(cli.DrillOptions{Target: "east", Databases: []string{"Sales"}, At: at}); code != 0 {
		t.Fatalf("drill -at: exit %d", code)
	}
	if got := fmt.Sprint(lastDropped(t, h.east).Rows); got != "[1 2 3 4 10]" {
		t.Errorf("drill -at %s: the scratch database held %s, want [1 2 3 4 10]", at, got)
	}
	if d := h.state().LookupTargetDatabase("east", "Sales").LastDrill; d == nil || !d.OK || !d.StopAt.Equal(at) || d.Through.After(at) {
		t.Errorf("ledger after drill -at: %+v", d)
	}
	if !strings.Contains(h.stdout.String(), "(STOPAT)") {
		t.Errorf("drill -at output:\n%s", h.stdout.String())
	}
	// A point after everything shipped is refused, not drilled short.
	if code := h.drill(cli.DrillOptions{Target: "east", Databases: []string{"Sales"}, At: time.Now().Add(time.Hour)}); code != cli.ExitError || !strings.Contains(h.stderr.String(), "before") {
		t.Errorf("drill -at in the future: exit %d\n%s", code, h.stderr.String())
	}
	h.noScratchLeft(h.east)

	// A corrupted copy at the destination fails the drill, before the server
	// reads it; the failure is recorded, the scratch database is gone.
	restoresBefore = standbyRestores(h.east, "Sales")
	td = h.state().LookupTargetDatabase("east", "Sales")
	lastOK := td.LastDrill
	okAt = *td.DrillOKAt
	cp := td.Copies[lastOK.Artifact]
	file := filepath.Join(h.dir, "east", filepath.FromSlash(cp.Key))
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := h.drill(sales); code != cli.ExitError {
		t.Fatalf("drill of a corrupted copy: exit %d", code)
	}
	if !strings.Contains(h.stdout.String(), "Drill FAILED") || !strings.Contains(h.stderr.String(), "damaged") {
		t.Errorf("a failed drill must say so:\n%s\n%s", h.stdout.String(), h.stderr.String())
	}
	td = h.state().LookupTargetDatabase("east", "Sales")
	d = lastOK
	if d := td.LastDrill; d == nil || d.OK || !strings.Contains(d.Error, "damaged") || !td.DrillOKAt.Equal(okAt) {
		t.Fatalf("ledger after a failed drill: %+v, ok at %v (was %v)", d, td.DrillOKAt, okAt)
	}
	if row := h.statusRow("east", "Sales"); !strings.Contains(row, "FAILED") {
		t.Errorf("status after a failed drill: %q", row)
	}
	for _, secret := range []string{h.primary.DSN(""), h.east.DSN("")} {
		if strings.Contains(td.LastDrill.Error, secret) || strings.Contains(h.stdout.String()+h.stderr.String(), secret) {
			t.Error("a DSN reached the drill's output or the ledger")
		}
	}
	h.noScratchLeft(h.east)
	if n := standbyRestores(h.east, "Sales"); n != restoresBefore {
		t.Errorf("the failed drill restored into the standby")
	}

	// The standby goes on: the next apply restores a new log onto it. The
	// damaged copy (already restored there) is gone from the destination,
	// so the chain a drill can restore now ends before it, and says so.
	h.exec(h.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (12, N'twelve')")
	waitLogDue()
	if code := h.apply(); code != 0 {
		t.Fatalf("apply after the failed drill: exit %d", code)
	}
	if got := fmt.Sprint(h.rows(h.east, "Sales")); got != "[1 2 3 4 10 11 12]" {
		t.Errorf("standby rows after the next apply: %s", got)
	}
	if code := h.drill(sales); code != 0 || !strings.Contains(h.stdout.String(), "warning:   the destination's chain breaks after") || !strings.Contains(h.stdout.String(), d.Artifact+" is not there as a verified copy") {
		t.Errorf("drill after the damaged copy was dropped: exit %d\n%s", code, h.stdout.String())
	}

	// Every database of the target, hostile names included.
	if code := h.drill(cli.DrillOptions{Target: "east"}); code != 0 {
		t.Fatalf("drill of every database: exit %d", code)
	}
	if n := strings.Count(h.stdout.String(), "Drill passed"); n != 3 {
		t.Errorf("%d drills passed, want 3:\n%s", n, h.stdout.String())
	}
	h.noScratchLeft(h.east)
	if got := fmt.Sprint(h.rows(h.east, "Sales")); got != "[1 2 3 4 10 11 12]" {
		t.Errorf("standby rows at the end: %s", got)
	}
}

// statusRow is the line of `drsctl status` for one target database.
func (h *sqlHarness) statusRow(target, database string) string {
	h.t.Helper()
	if code := h.envFor().Status(context.Background(), h.globals(), cli.StatusOptions{}); code != 0 && code != cli.ExitChanges {
		h.t.Fatalf("status exit %d\n%s", code, h.stderr.String())
	}
	for _, line := range strings.Split(h.stdout.String(), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == target && f[1] == database {
			return line
		}
	}
	h.t.Fatalf("status has no row for %s/%s:\n%s", target, database, h.stdout.String())
	return ""
}
