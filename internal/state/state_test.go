package state

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/drsctl/drsctl/internal/artifact"
)

func TestDatabase_Add(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 5, 0, 0, 0, time.UTC)
	art := func(id string, finish time.Duration, lastLSN artifact.LSN, outOfBand bool) *Artifact {
		return &Artifact{ID: id, Header: artifact.Header{Kind: artifact.Log, Finish: t0.Add(finish), LastLSN: lastLSN}, OutOfBand: outOfBand}
	}
	spanning := func(id string, first, last artifact.LSN, outOfBand bool) *Artifact {
		a := art(id, 0, last, outOfBand)
		a.FirstLSN = first
		return a
	}
	ids := func(d *Database) []string {
		var out []string
		for _, a := range d.Artifacts {
			out = append(out, a.ID)
		}
		return out
	}
	tests := []struct {
		name string
		add  []*Artifact
		want []string
	}{
		{
			name: "drsctl's own backups keep arrival order when the server's clock is set back",
			add: []*Artifact{
				art("a", 0, "10", false),
				art("b", 15*time.Minute, "20", false),
				art("c", -time.Hour, "30", false), // finished "before" a: the clock went back
				art("d", -45*time.Minute, "40", false),
			},
			want: []string{"a", "b", "c", "d"},
		},
		{
			name: "an out-of-band backup goes where its LSNs put it",
			add: []*Artifact{
				art("a", 0, "10", false),
				art("b", 15*time.Minute, "20", false),
				art("c", 30*time.Minute, "30", false),
				art("oob", 20*time.Minute, "25", true),
			},
			want: []string{"a", "b", "oob", "c"},
		},
		{
			name: "an out-of-band backup older than everything goes first",
			add: []*Artifact{
				art("a", 0, "10", false),
				art("oob", -time.Minute, "5", true),
			},
			want: []string{"oob", "a"},
		},
		{
			name: "an out-of-band backup newer than everything goes last",
			add: []*Artifact{
				art("a", 0, "10", false),
				art("oob", time.Minute, "15", true),
			},
			want: []string{"a", "oob"},
		},
		{
			name: "an out-of-band backup finishing with another goes by LSN",
			add: []*Artifact{
				art("a", 0, "10", false),
				art("b", 0, "30", false),
				art("oob", 0, "20", true),
			},
			want: []string{"a", "oob", "b"},
		},
		{
			name: "an out-of-band backup among drsctl backups whose clock went back",
			add: []*Artifact{
				art("a", 0, "10", false),
				art("b", time.Hour, "20", false),
				art("c", -time.Hour, "30", false), // the clock went back
				art("d", 30*time.Minute, "40", false),
				art("oob", 10*time.Minute, "15", true),
			},
			want: []string{"a", "oob", "b", "c", "d"},
		},
		{
			name: "an out-of-band backup from a server whose clock ran ahead still goes by LSN",
			add: []*Artifact{
				art("a", 0, "10", false),
				art("b", 15*time.Minute, "20", false),
				art("oob", 2*time.Hour, "15", true), // finished "after" b by a clock 2h ahead
			},
			want: []string{"a", "oob", "b"},
		},
		{
			name: "after LSNs went backwards, an out-of-band backup joins the newest fork",
			add: []*Artifact{
				art("a", 0, "100", false),
				art("b", 15*time.Minute, "200", false),
				art("c", 30*time.Minute, "50", false), // a primary moved: LSNs restart lower
				art("d", 45*time.Minute, "70", false),
				art("oob", 40*time.Minute, "60", true),
			},
			want: []string{"a", "b", "c", "oob", "d"},
		},
	}
	tests = append(tests, struct {
		name string
		add  []*Artifact
		want []string
	}{
		name: "an out-of-band log goes before the empty log drsctl took right after it",
		add: []*Artifact{
			spanning("a", "30", "40", false),
			spanning("empty", "44", "44", false), // idle: the DBA's log took 40-44
			spanning("oob", "40", "44", true),
		},
		want: []string{"a", "oob", "empty"},
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &Database{}
			for _, a := range tc.add {
				d.Add(a)
			}
			if diff := cmp.Diff(tc.want, ids(d)); diff != "" {
				t.Errorf("artifacts (-want +got):\n%s", diff)
			}
		})
	}
}

// ignoreTrack makes cmp compare ledgers, not whether they track changes.
var ignoreTrack = cmpopts.IgnoreUnexported(State{})
