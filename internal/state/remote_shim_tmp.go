package state

// TEMPORARY: stands in for the journal (EncodeEntry, ApplyEntry,
// ClearChanges) until it lands on main; delete when merging it.

import (
	"bytes"
	"fmt"
)

// EncodeEntry (shim): the whole state at serial s.Serial+1.
func EncodeEntry(s *State) ([]byte, error) {
	next := *s
	next.Serial = s.Serial + 1
	var buf bytes.Buffer
	if err := Write(&next, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ClearChanges (shim): nothing is tracked.
func (s *State) ClearChanges() {}

// ApplyEntry (shim): replaces s by the entry's state.
func ApplyEntry(s *State, raw []byte) error {
	n, err := Read(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	if n.Lineage != s.Lineage {
		return fmt.Errorf("journal entry of lineage %s does not belong to ledger %s", n.Lineage, s.Lineage)
	}
	if n.Serial != s.Serial+1 {
		return fmt.Errorf("journal entry has serial %d, want %d", n.Serial, s.Serial+1)
	}
	*s = *n
	return nil
}
