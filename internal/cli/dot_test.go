package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/drsctl/drsctl/internal/cli"
)

// dotGraph is what checkDOT read from a graph: each node's attributes (by
// the node's name, unquoted) and each edge.
type dotGraph struct {
	nodes map[string]map[string]string
	edges [][2]string
}

// checkDOT parses src as the DOT language (graphviz's grammar: a digraph of
// node, edge, attribute and ID = ID statements; IDs are identifiers,
// numerals or quoted strings, where a backslash takes the next character
// with it, as graphviz's scanner does) and fails on anything else, so that
// drsctl graph | dot -Tsvg is checked without graphviz installed. Labels
// are decoded as graphviz draws them (\n a line break, \\ a backslash,
// \" a quote).
func checkDOT(src string) (*dotGraph, error) {
	toks, err := dotTokens(src)
	if err != nil {
		return nil, err
	}
	g := &dotGraph{nodes: map[string]map[string]string{}}
	i := 0
	peek := func() dotToken {
		if i < len(toks) {
			return toks[i]
		}
		return dotToken{kind: 0}
	}
	expect := func(what string) (dotToken, error) {
		t := peek()
		if (what == "ID" && t.kind != 'I') || (what != "ID" && (t.kind != 'P' || t.text != what)) {
			return t, fmt.Errorf("line %d: want %s, got %q", t.line, what, t.text)
		}
		i++
		return t, nil
	}
	attrs := func() (map[string]string, error) {
		m := map[string]string{}
		for peek().kind == 'P' && peek().text == "[" {
			i++
			for !(peek().kind == 'P' && peek().text == "]") {
				k, err := expect("ID")
				if err != nil {
					return nil, err
				}
				if _, err := expect("="); err != nil {
					return nil, err
				}
				v, err := expect("ID")
				if err != nil {
					return nil, err
				}
				m[k.text] = v.text
				if p := peek(); p.kind == 'P' && (p.text == "," || p.text == ";") {
					i++
				}
			}
			i++
		}
		return m, nil
	}
	if t := peek(); t.kind != 'I' || !t.raw || t.text != "digraph" {
		return nil, fmt.Errorf("line %d: want digraph, got %q", t.line, t.text)
	}
	i++
	if peek().kind == 'I' {
		i++
	}
	if _, err := expect("{"); err != nil {
		return nil, err
	}
	for !(peek().kind == 'P' && peek().text == "}") {
		t, err := expect("ID")
		if err != nil {
			return nil, err
		}
		switch {
		case peek().kind == 'P' && peek().text == "=": // rankdir = LR
			i++
			if _, err := expect("ID"); err != nil {
				return nil, err
			}
		case t.raw && (t.text == "node" || t.text == "edge" || t.text == "graph"):
			if _, err := attrs(); err != nil {
				return nil, err
			}
		case peek().kind == 'P' && peek().text == "->":
			from := t.text
			for peek().kind == 'P' && peek().text == "->" {
				i++
				to, err := expect("ID")
				if err != nil {
					return nil, err
				}
				g.edges = append(g.edges, [2]string{from, to.text})
				from = to.text
			}
			if _, err := attrs(); err != nil {
				return nil, err
			}
		default:
			a, err := attrs()
			if err != nil {
				return nil, err
			}
			if g.nodes[t.text] == nil {
				g.nodes[t.text] = map[string]string{}
			}
			for k, v := range a {
				g.nodes[t.text][k] = v
			}
		}
		if p := peek(); p.kind == 'P' && p.text == ";" {
			i++
		}
	}
	i++
	if i != len(toks) {
		return nil, fmt.Errorf("line %d: %q after the graph", peek().line, peek().text)
	}
	return g, nil
}

type dotToken struct {
	kind rune // 'I' an ID, 'P' punctuation, 0 the end
	text string
	raw  bool // an unquoted identifier (keywords are not quoted)
	line int
}

func dotTokens(src string) ([]dotToken, error) {
	var toks []dotToken
	line := 1
	r := []rune(src)
	for i := 0; i < len(r); {
		c := r[i]
		switch {
		case c == '\n':
			line++
			i++
		case unicode.IsSpace(c):
			i++
		case c == '-' && i+1 < len(r) && r[i+1] == '>':
			toks = append(toks, dotToken{kind: 'P', text: "->", line: line})
			i += 2
		case strings.ContainsRune("{}[]=;,", c):
			toks = append(toks, dotToken{kind: 'P', text: string(c), line: line})
			i++
		case c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(r) && r[j] != '"'; j++ {
				if r[j] == '\n' {
					return nil, fmt.Errorf("line %d: a line break inside a quoted string", line)
				}
				if r[j] == '\\' && j+1 < len(r) {
					b.WriteRune(r[j])
					j++
				}
				b.WriteRune(r[j])
			}
			if j == len(r) {
				return nil, fmt.Errorf("line %d: unterminated quoted string", line)
			}
			toks = append(toks, dotToken{kind: 'I', text: b.String(), line: line})
			i = j + 1
		case c == '_' || unicode.IsLetter(c) || unicode.IsDigit(c):
			j := i
			for j < len(r) && (r[j] == '_' || unicode.IsLetter(r[j]) || unicode.IsDigit(r[j])) {
				j++
			}
			toks = append(toks, dotToken{kind: 'I', text: string(r[i:j]), raw: true, line: line})
			i = j
		default:
			return nil, fmt.Errorf("line %d: unexpected %q", line, c)
		}
	}
	return toks, nil
}

// dotText decodes a label as graphviz draws it: its lines.
func dotText(label string) []string {
	var lines []string
	var b strings.Builder
	r := []rune(label)
	for i := 0; i < len(r); i++ {
		if r[i] == '\\' && i+1 < len(r) {
			i++
			switch r[i] {
			case 'n', 'l', 'r':
				lines = append(lines, b.String())
				b.Reset()
				continue
			}
		}
		b.WriteRune(r[i])
	}
	return append(lines, b.String())
}

func TestCheckDOT_RefusesWhatGraphvizRefuses(t *testing.T) {
	for _, bad := range []string{
		"digraph g {\n  \"a\\\" [label = \"x\"];\n}\n", // a backslash escaping the closing quote
		"digraph g {\n  \"a\" [label = \"x];\n}\n",
		"digraph g {\n  a -> ;\n}\n",
		"digraph g {\n  a [label = \"\\u2192\"];\n", // no closing brace
		"digraph g {\n  a [label = x\ny];\n}\n",
		"digraph g {\n  \"a\" [label = \"x\" color];\n}\n",
	} {
		if _, err := checkDOT(bad); err == nil {
			t.Errorf("checkDOT accepted:\n%s", bad)
		}
		if dot, err := exec.LookPath("dot"); err == nil { // the checker agrees with graphviz
			cmd := exec.Command(dot, "-Tplain")
			cmd.Stdin = strings.NewReader(bad)
			if out, err := cmd.CombinedOutput(); err == nil {
				t.Errorf("dot accepted what the checker refuses:\n%s\n%s", bad, out)
			}
		}
	}
	g, err := checkDOT("digraph g {\n  rankdir = LR;\n  node [shape = box];\n  \"a\\\\\" [label = \"x\\\\\\ny \\\"z\\\"\"];\n  b -> \"a\\\\\" -> c [label = \"ship\"];\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := dotText(g.nodes[`a\\`]["label"]); strings.Join(got, "|") != `x\|y "z"` {
		t.Errorf("label lines %q", got)
	}
	if len(g.edges) != 2 || g.edges[1] != [2]string{`a\\`, "c"} {
		t.Errorf("edges %v", g.edges)
	}
}

// graphDOT checks one graph's output: it parses as DOT, every edge joins
// declared nodes, and, where graphviz is installed, dot renders it. The
// checker always runs, so the test asserts the syntax on a machine without
// graphviz (CI's included) instead of skipping.
func graphDOT(t *testing.T, out string) *dotGraph {
	t.Helper()
	g, err := checkDOT(out)
	if err != nil {
		t.Fatalf("not DOT: %v\n%s", err, out)
	}
	for _, e := range g.edges {
		for _, n := range e {
			if g.nodes[n] == nil {
				t.Errorf("edge %q → %q: node %q is not declared", e[0], e[1], n)
			}
		}
	}
	if dot, err := exec.LookPath("dot"); err == nil {
		cmd := exec.Command(dot, "-Tsvg")
		cmd.Stdin = strings.NewReader(out)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Errorf("dot -Tsvg: %v %s\n%s", err, &stderr, out)
		}
	} else {
		t.Log("graphviz's dot is not installed: the output was checked by checkDOT alone")
	}
	return g
}

// graph -plan labels each action with what it does and where: the verb,
// then primary/database (→ target). Before, a node read "east ship (new
// full backup)": which database? Hostile database names (quotes,
// backslashes, brackets, non-ASCII) stay valid DOT and read back exactly.
func TestGraph_PlanLabelsNamePrimaryDatabaseAndTarget(t *testing.T) {
	h := newHarness(t)
	dbs := []string{"Sales", `say "hi"`, `a\b`, `trail\`, "Ünïcødé 💾", "[x]; --", `\n`}
	quoted := make([]string, len(dbs))
	hcl := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	for i, db := range dbs {
		quoted[i] = `"` + hcl.Replace(db) + `"`
		h.drv.Server("primary").Create(db, "98765432109876543210000")
	}
	cfg := strings.Replace(fmt.Sprintf(e2eConfig, h.dir), `databases     = ["Sales", "O'Brien"]`, "databases     = ["+strings.Join(quoted, ", ")+"]", 1)
	if err := os.WriteFile(filepath.Join(h.dir, "main.drs.hcl"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if code := h.env().Graph(ctx, h.globals(), cli.GraphOptions{Plan: true}); code != 0 {
		t.Fatalf("graph -plan: exit %d\n%s", code, &h.stderr)
	}
	g := graphDOT(t, h.stdout.String())
	want := map[string]bool{}
	for _, db := range dbs {
		want["backup full|sales/"+db] = true
		for _, tg := range []string{"east", "west", "vault"} {
			want["ship (new full backup)|sales/"+db+" → "+tg] = true
		}
	}
	for id, a := range g.nodes {
		lines := dotText(a["label"])
		if len(lines) != 2 || !strings.HasPrefix(lines[1], "sales/") {
			t.Errorf("node %q: label %q does not read verb, then primary/database", id, lines)
			continue
		}
		delete(want, strings.Join(lines, "|"))
	}
	for w := range want {
		t.Errorf("no node labelled %q", w)
	}
	if len(g.edges) == 0 {
		t.Error("no dependencies drawn")
	}

	// The topology, with the same names.
	if code := h.env().Graph(ctx, h.globals(), cli.GraphOptions{}); code != 0 {
		t.Fatalf("graph: exit %d\n%s", code, &h.stderr)
	}
	g = graphDOT(t, h.stdout.String())
	lines := dotText(g.nodes["target.east"]["label"])
	for i, db := range dbs {
		if i+1 >= len(lines) || lines[i+1] != db+": breach (nothing yet)" {
			t.Errorf("target.east's label line %d: %q, want database %q", i+1, lines, db)
		}
	}
}
