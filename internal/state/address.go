package state

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Addresses name the objects in the ledger for `drsctl state list` and
// `drsctl state show ADDR`:
//
//	primary.sales.database["Sales"]
//	primary.sales.database["Sales"].artifact["Sales_full_20261125T045500Z.bak"]
//	target.dr_east.database["Sales"]
//
// A primary or target name that is not an identifier is written in the
// index form too (primary["eu.sales"]); either form is accepted for any
// name. Indexes are Go-quoted strings, so a `"` inside is written \" and a
// `]` needs no escaping.

func primaryAddr(p string) string     { return "primary" + nameSegment(p) }
func targetAddr(t string) string      { return "target" + nameSegment(t) }
func databaseAddr(p, d string) string { return primaryAddr(p) + ".database" + index(d) }
func artifactAddr(p, d, id string) string {
	return databaseAddr(p, d) + ".artifact" + index(id)
}
func targetDatabaseAddr(t, d string) string { return targetAddr(t) + ".database" + index(d) }

func index(s string) string { return "[" + strconv.Quote(s) + "]" }

func nameSegment(s string) string {
	if isIdent(s) {
		return "." + s
	}
	return index(s)
}

// isIdent reports whether s is an HCL-style identifier: a letter or
// underscore, then letters, digits, underscores and dashes (ASCII only, so
// the address stays unambiguous).
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'):
		case i > 0 && (r == '-' || (r >= '0' && r <= '9')):
		default:
			return false
		}
	}
	return true
}

// List returns the address of every database, artifact and target database
// in s: primaries before targets, names in sorted order, each primary
// database followed by its artifacts in the order they were taken.
func List(s *State) []string {
	var out []string
	for _, pname := range sortedKeys(s.Primaries) {
		p := s.Primaries[pname]
		if p == nil {
			continue
		}
		for _, dname := range sortedKeys(p.Databases) {
			out = append(out, databaseAddr(pname, dname))
			if d := p.Databases[dname]; d != nil {
				for _, a := range d.Artifacts {
					if a != nil {
						out = append(out, artifactAddr(pname, dname, a.ID))
					}
				}
			}
		}
	}
	for _, tname := range sortedKeys(s.Targets) {
		if t := s.Targets[tname]; t != nil {
			for _, dname := range sortedKeys(t.Databases) {
				out = append(out, targetDatabaseAddr(tname, dname))
			}
		}
	}
	return out
}

// Show returns a view of the object at addr that encoding/json renders with
// the state file's field names.
func Show(s *State, addr string) (any, error) {
	a, err := parseAddress(addr)
	if err != nil {
		return nil, err
	}
	missing := fmt.Errorf("%s: no such address; try drsctl state list", addr)
	switch a.kind {
	case "primary":
		d := s.LookupDatabase(a.name, a.database)
		if d == nil {
			return nil, missing
		}
		if !a.hasArtifact {
			return view(databaseToFile(d))
		}
		art := d.Artifact(a.artifact)
		if art == nil {
			return nil, missing
		}
		return view(artifactToFile(art))
	default: // "target"
		d := s.LookupTargetDatabase(a.name, a.database)
		if d == nil {
			return nil, missing
		}
		return view(targetDatabaseToFile(d))
	}
}

// view returns v as an any, and a nil interface (not a typed nil) on error.
func view[T any](v *T, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}

type address struct {
	kind        string // "primary" or "target"
	name        string
	database    string
	hasArtifact bool
	artifact    string
}

// parseAddress reads the grammar
//
//	("primary" | "target") name ".database" index [".artifact" index]
//	name  = "." identifier | index
//	index = "[" Go-quoted string "]"
//
// where ".artifact" is only valid after a primary's database.
func parseAddress(addr string) (address, error) {
	var a address
	p := &addrParser{s: addr}
	bad := func(why string) (address, error) {
		return address{}, fmt.Errorf("invalid address %s: %s at column %d; addresses look like %s or %s",
			strconv.Quote(addr), why, p.i+1,
			`primary.NAME.database["DB"].artifact["FILE"]`, `target.NAME.database["DB"]`)
	}
	switch {
	case p.literal("primary"):
		a.kind = "primary"
	case p.literal("target"):
		a.kind = "target"
	default:
		return bad(`expected "primary" or "target"`)
	}
	var ok bool
	var why string
	if p.literal(".") {
		if a.name, ok = p.ident(); !ok {
			return bad("expected a name")
		}
	} else if a.name, why = p.index(); why != "" {
		return bad(why)
	}
	if !p.literal(".database") {
		return bad(`expected ".database"`)
	}
	if a.database, why = p.index(); why != "" {
		return bad(why)
	}
	if a.kind == "primary" && p.literal(".artifact") {
		a.hasArtifact = true
		if a.artifact, why = p.index(); why != "" {
			return bad(why)
		}
	}
	if p.i != len(p.s) {
		return bad("unexpected text")
	}
	return a, nil
}

type addrParser struct {
	s string
	i int
}

func (p *addrParser) literal(lit string) bool {
	if strings.HasPrefix(p.s[p.i:], lit) {
		p.i += len(lit)
		return true
	}
	return false
}

func (p *addrParser) ident() (string, bool) {
	j := p.i
	for j < len(p.s) {
		c := p.s[j]
		if c == '_' || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			j++
			continue
		}
		break
	}
	if !isIdent(p.s[p.i:j]) {
		return "", false
	}
	name := p.s[p.i:j]
	p.i = j
	return name, true
}

// index reads ["..."] and returns the unquoted string, or why it could not.
func (p *addrParser) index() (string, string) {
	if !p.literal(`["`) {
		return "", `expected ["`
	}
	start := p.i - 1 // the opening quote
	for j := p.i; j < len(p.s); j++ {
		switch p.s[j] {
		case '\\':
			j++ // skip the escaped character
		case '"':
			v, err := strconv.Unquote(p.s[start : j+1])
			if err != nil {
				return "", "bad escape in quoted name"
			}
			p.i = j + 1
			if !p.literal("]") {
				return "", `expected "]"`
			}
			return v, ""
		}
	}
	return "", "unterminated quoted name"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
