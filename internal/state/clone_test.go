package state

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestState_Clone(t *testing.T) {
	s := fullState()
	c := s.Clone()
	if diff := cmp.Diff(s, c, ignoreTrack); diff != "" {
		t.Fatalf("Clone differs (-orig +clone):\n%s", diff)
	}

	// Change everything reachable in the clone; the original must not move.
	c.Serial++
	c.Database("sales", "Sales").RecoveryModel = "SIMPLE"
	c.Database("sales", "Sales").Identity = "another incarnation"
	a := c.Database("sales", "Sales").Artifacts[1]
	a.LastLSN = "1"
	*a.PrunedAt = a.PrunedAt.Add(time.Hour)
	f := c.Database("sales", "Sales").Artifacts[0]
	f.NewFork = false
	f.Completed = f.Completed.Add(time.Hour)
	c.Database("sales", "Sales").Artifacts[0] = nil
	c.Database("sales", "other")
	td := c.TargetDatabase("dr_east", "Sales")
	cp := td.Copies["Sales_full_20261125T045500Z.bak"]
	cp.Size = 1
	*cp.VerifiedAt = cp.VerifiedAt.Add(time.Hour)
	delete(td.Copies, "Sales_full_20261125T045500Z.bak")
	td.Restored.Mode = "norecovery"
	td.Seeding = ""
	*td.PromotedAt = td.PromotedAt.Add(time.Hour)
	c.Target("dr_west")

	if diff := cmp.Diff(fullState(), s, ignoreTrack); diff != "" {
		t.Errorf("changing the clone changed the original (-want +got):\n%s", diff)
	}
}

func TestState_Clone_nil(t *testing.T) {
	var s *State
	if s.Clone() != nil {
		t.Error("nil.Clone() != nil")
	}
	e := &State{Lineage: "l"}
	if diff := cmp.Diff(e, e.Clone(), ignoreTrack); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
