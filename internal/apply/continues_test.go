package apply

import (
	"errors"
	"testing"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/state"
)

func TestContinues(t *testing.T) {
	log := &state.Artifact{ID: "l.trn", Header: artifact.Header{Kind: artifact.Log, FirstLSN: "98765432109876543210000", LastLSN: "98765432109876543210100"}}
	full := &state.Artifact{ID: "f.bak", Header: artifact.Header{Kind: artifact.Full, FirstLSN: "98765432109876543210000", LastLSN: "98765432109876543210100"}}
	empty := &state.Artifact{ID: "e.trn", Header: artifact.Header{Kind: artifact.Log, FirstLSN: "98765432109876543210100", LastLSN: "98765432109876543210100"}}
	tests := []struct {
		name     string
		art      *state.Artifact
		at       artifact.LSN
		ok       bool
		afterLog bool
	}{
		{"the target stands at the log's first LSN", log, "98765432109876543210000", true, false},
		{"the target stands inside the log", log, "98765432109876543210050", true, false},
		{"the target stands just before the log's end", log, "98765432109876543210099", true, false},
		{"the target stands at the log's end: nothing to restore", log, "98765432109876543210100", false, false},
		{"the target stands beyond the log", log, "98765432109876543210101", false, false},
		{"the target stands before the log: the chain moved", log, "98765432109876543209999", false, false},
		{"LSNs compared as numbers, not strings", log, "9", false, false},
		{"a full backup does not continue anything", full, "98765432109876543210050", false, false},
		{"an empty log where the target stands: the database was idle", empty, "98765432109876543210100", true, false},
		{"an empty log before the target", empty, "98765432109876543210101", false, false},
		{"an empty log beyond the target", empty, "98765432109876543210099", false, false},
		{"after a log, the next begins exactly where it ended", log, "98765432109876543210000", true, true},
		{"after a log, a log that only covers the position is another history", log, "98765432109876543210050", false, true},
		{"after a log, an empty log where the target stands", empty, "98765432109876543210100", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := continues(tc.art, tc.at, tc.afterLog, "dr")
			if tc.ok {
				if err != nil {
					t.Errorf("continues: %v", err)
				}
				return
			}
			if !errors.Is(err, engine.ErrChain) {
				t.Errorf("continues = %v, want an error wrapping engine.ErrChain", err)
			}
		})
	}
}
