package state

import "time"

// Clone returns a deep copy of s: nothing in the copy shares memory with s,
// so a planner can look at one while apply changes the other.
func (s *State) Clone() *State {
	if s == nil {
		return nil
	}
	c := &State{Lineage: s.Lineage, Serial: s.Serial}
	if s.Primaries != nil {
		c.Primaries = make(map[string]*Primary, len(s.Primaries))
		for name, p := range s.Primaries {
			c.Primaries[name] = p.clone()
		}
	}
	if s.Targets != nil {
		c.Targets = make(map[string]*Target, len(s.Targets))
		for name, t := range s.Targets {
			c.Targets[name] = t.clone()
		}
	}
	return c
}

func (p *Primary) clone() *Primary {
	if p == nil {
		return nil
	}
	c := &Primary{}
	if p.Databases != nil {
		c.Databases = make(map[string]*Database, len(p.Databases))
		for name, d := range p.Databases {
			c.Databases[name] = d.clone()
		}
	}
	return c
}

func (d *Database) clone() *Database {
	if d == nil {
		return nil
	}
	c := *d
	if d.Artifacts != nil {
		c.Artifacts = make([]*Artifact, len(d.Artifacts))
		for i, a := range d.Artifacts {
			c.Artifacts[i] = a.clone()
		}
	}
	return &c
}

func (a *Artifact) clone() *Artifact {
	if a == nil {
		return nil
	}
	c := *a // artifact.Header holds only values
	c.PrunedAt = cloneTime(a.PrunedAt)
	c.DamagedAt = cloneTime(a.DamagedAt)
	c.More = append([]Stripe(nil), a.More...)
	return &c
}

func (t *Target) clone() *Target {
	if t == nil {
		return nil
	}
	c := &Target{}
	if t.Databases != nil {
		c.Databases = make(map[string]*TargetDatabase, len(t.Databases))
		for name, d := range t.Databases {
			c.Databases[name] = d.clone()
		}
	}
	return c
}

func (d *TargetDatabase) clone() *TargetDatabase {
	if d == nil {
		return nil
	}
	c := *d
	if d.Copies != nil {
		c.Copies = make(map[string]*Copy, len(d.Copies))
		for id, cp := range d.Copies {
			if cp == nil {
				c.Copies[id] = nil
				continue
			}
			cc := *cp
			cc.VerifiedAt = cloneTime(cp.VerifiedAt)
			c.Copies[id] = &cc
		}
	}
	if d.Restored != nil {
		r := *d.Restored
		c.Restored = &r
	}
	c.PromotedAt = cloneTime(d.PromotedAt)
	c.ReprotectAt = cloneTime(d.ReprotectAt)
	c.DrillOKAt = cloneTime(d.DrillOKAt)
	if d.LastDrill != nil {
		dr := *d.LastDrill
		c.LastDrill = &dr
	}
	return &c
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}
