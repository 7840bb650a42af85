package plan

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/state"
)

func TestDrillChain(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 3, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	art := func(id string, kind artifact.Kind, first, last string, finish int) *state.Artifact {
		return &state.Artifact{ID: id, Key: id, Header: artifact.Header{Kind: kind, FirstLSN: artifact.LSN(first), LastLSN: artifact.LSN(last),
			Start: at(finish), Finish: at(finish)}, Completed: at(finish)}
	}
	// F1 (10) → L1 [10,20) → L2 [20,30) → F2 (35) → L3 [30,40) → L4 [40,40) empty → L5 [40,50)
	db := &state.Database{Artifacts: []*state.Artifact{
		art("F1", artifact.Full, "5", "10", 0), art("L1", artifact.Log, "10", "20", 10), art("L2", artifact.Log, "20", "30", 20),
		art("F2", artifact.Full, "35", "36", 25), art("L3", artifact.Log, "30", "40", 30), art("L4", artifact.Log, "40", "40", 40),
		art("L5", artifact.Log, "40", "50", 50),
	}}
	verified := at(60)
	held := func(ids ...string) *state.TargetDatabase {
		td := &state.TargetDatabase{Copies: map[string]*state.Copy{}}
		for _, id := range ids {
			c := &state.Copy{Key: id, VerifiedAt: &verified}
			if strings.HasSuffix(id, "?") { // shipped, never verified
				id, c.VerifiedAt = strings.TrimSuffix(id, "?"), nil
			}
			td.Copies[id] = c
		}
		return td
	}
	ids := func(d *DrillChain) string {
		var out []string
		for _, a := range d.Backups {
			out = append(out, a.ID)
		}
		return strings.Join(out, " ")
	}
	for _, c := range []struct {
		name    string
		held    *state.TargetDatabase
		at      time.Time
		want    string // IDs, or "error: text"
		gap     string
		through time.Time
	}{
		{name: "nothing shipped", held: nil, want: "error: no verified full backup"},
		{name: "newest, empty log skipped", held: held("F1", "L1", "L2", "L3", "L4", "L5"), want: "F1 L1 L2 L3 L5", through: at(50)},
		{name: "newer full reaches as far", held: held("F2", "L3", "L5"), want: "F2 L3 L5", through: at(50)},
		{name: "an unverified copy is a gap", held: held("F1", "L1", "L2?", "L3", "L5"), want: "F1 L1", gap: "L2 is not there as a verified copy", through: at(10)},
		{name: "at: logs up to the first finishing after it", held: held("F1", "L1", "L2", "L3", "L5"), at: at(15), want: "F1 L1 L2", through: at(15)},
		{name: "at: the newest full finished by then", held: held("F1", "L1", "L2", "F2", "L3", "L5"), at: at(45), want: "F2 L3 L5", through: at(45)},
		{name: "at: after the chain", held: held("F1", "L1"), at: at(15), want: "error: ends with L1"},
		{name: "at: before every full", held: held("F2", "L3"), at: at(20), want: "error: every verified full backup"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := Drill(db, c.held, c.at, at(60))
			if strings.HasPrefix(c.want, "error: ") {
				if !errors.Is(err, ErrNothingToDrill) || !strings.Contains(err.Error(), strings.TrimPrefix(c.want, "error: ")) {
					t.Fatalf("got %v, %v; want %s", d, err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(d); got != c.want || !d.Through.Equal(c.through) || !d.StopAt.Equal(c.at) {
				t.Errorf("got %s through %s stop %s, want %s through %s", got, d.Through, d.StopAt, c.want, c.through)
			}
			if !strings.Contains(d.Gap, c.gap) || (c.gap == "") != (d.Gap == "") {
				t.Errorf("gap %q, want %q", d.Gap, c.gap)
			}
		})
	}
}
