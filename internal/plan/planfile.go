package plan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/drsctl/drsctl/internal/state"
)

// Save writes a plan for a later `drsctl apply FILE`.
func Save(w io.Writer, p *Plan) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// Load reads a saved plan.
func Load(r io.Reader) (*Plan, error) {
	var p Plan
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	if p.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("read plan: format version %q, this drsctl reads %q", p.FormatVersion, FormatVersion)
	}
	return &p, nil
}

// ErrStale is wrapped when a saved plan no longer matches the state or the
// configuration it was made from.
var ErrStale = errors.New("saved plan is stale")

// CheckCurrent refuses a saved plan made from another state or configuration.
func (p *Plan) CheckCurrent(st *state.State, configDigest string) error {
	lineage, serial := "", uint64(0)
	if st != nil {
		lineage, serial = st.Lineage, st.Serial
	}
	if p.Lineage != lineage {
		return fmt.Errorf("%w: it was made from state lineage %q, the state is lineage %q; run drsctl plan again", ErrStale, p.Lineage, lineage)
	}
	if p.Serial != serial {
		return fmt.Errorf("%w: it was made from state serial %d, the state is now at serial %d (something ran since); run drsctl plan again", ErrStale, p.Serial, serial)
	}
	if p.ConfigDigest != "" && configDigest != "" && p.ConfigDigest != configDigest {
		return fmt.Errorf("%w: the configuration changed since the plan was made; run drsctl plan again", ErrStale)
	}
	return nil
}

// ConfigDigest identifies configuration sources (file name → bytes).
func ConfigDigest(sources map[string][]byte) string {
	names := make([]string, 0, len(sources))
	for n := range sources {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(sources[n]))
		h.Write(sources[n])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Bytes is a convenience for tests and callers that keep plans in memory.
func (p *Plan) Bytes() ([]byte, error) {
	var buf bytes.Buffer
	err := Save(&buf, p)
	return buf.Bytes(), err
}
