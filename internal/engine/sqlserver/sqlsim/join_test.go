package sqlsim

import (
	"fmt"
	"strings"
	"testing"
)

// TestJoinWhereEarly: WHERE's leading conjuncts are applied as soon as the
// sources they name are bound (so that a SELECT over msdb's history by one
// database does not build the product of every database's history), and
// the answers and errors stay those of testing WHERE on the whole join.
func TestJoinWhereEarly(t *testing.T) {
	srv := startSim(t, Options{})
	db := openDB(t, srv, "")
	mustExec(t, db, "CREATE DATABASE A; CREATE DATABASE B")
	mustExec(t, db, "INSERT INTO A.dbo.drs_probe (id, note) VALUES (1, N'a'), (2, N'b'), (3, N'a'), (5, N'a')")
	mustExec(t, db, "INSERT INTO B.dbo.drs_probe (id, note) VALUES (1, N'p'), (1, N'q'), (3, N'r'), (4, N's')")
	const from = "FROM A.dbo.drs_probe AS x JOIN B.dbo.drs_probe AS y ON y.id = x.id "

	query := func(q string, args ...any) string {
		t.Helper()
		rows, err := db.Query(q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id int
			var note string
			if err := rows.Scan(&id, &note); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%d %s", id, note))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return strings.Join(out, ",")
	}
	// A conjunct on x, then one on y: the first is applied before the
	// join, the second after it, and both again on the joined rows.
	if got := query("SELECT x.id, y.note "+from+"WHERE x.note = @p1 AND y.note <> @p2 ORDER BY x.id, y.note", "a", "q"); got != "1 p,3 r" {
		t.Errorf("join with WHERE on both sides = %q, want %q", got, "1 p,3 r")
	}
	// A conjunct naming the later source first: nothing is applied early.
	if got := query("SELECT x.id, y.note " + from + "WHERE y.note = N'q' AND x.note = N'a'"); got != "1 q" {
		t.Errorf("join with WHERE on y first = %q, want %q", got, "1 q")
	}
	// A name that the first source alone resolves and the second makes
	// ambiguous is still an error.
	if e := sqlErr(t, db, "SELECT x.id, y.note "+from+"WHERE id = 1"); e.Number != 209 {
		t.Errorf("ambiguous column in WHERE: error %d %q, want 209", e.Number, e.Message)
	}
	// A WHERE that cannot be evaluated on rows the join drops anyway is no
	// error (as when WHERE is tested on the join's rows only) ...
	if got := query("SELECT x.id, y.note FROM A.dbo.drs_probe AS x JOIN B.dbo.drs_probe AS y ON y.id = -1 WHERE x.note = 7"); got != "" {
		t.Errorf("join with no rows = %q, want none", got)
	}
	// ... and is on rows it keeps.
	if e := sqlErr(t, db, "SELECT x.id, y.note "+from+"WHERE x.note = 7"); e.Number != 245 {
		t.Errorf("WHERE converting 'a' to int: error %d %q, want 245", e.Number, e.Message)
	}
}
