package main

import (
	"database/sql"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
)

// pictureDir is the fixed directory scripts/graph-picture.sh runs the
// quickstart in: the picture shows its backup folder URLs.
const pictureDir = "/tmp/drsctl-quickstart"

// lagRe is the one part of the picture that differs between two first
// applies: how far behind a target is when graph runs.
var lagRe = regexp.MustCompile(`\([0-9][0-9a-z.]* behind\)`)

// docs/graph.dot, the README's picture's source, is what `drsctl graph`
// prints today after the quickstart's first apply (the first apply run
// here, in-process, against SQL Server simulators, as the script runs it);
// docs/graph.svg is drawn from it, and the script renders the command's
// output unchanged. When graph's output changes, this fails until
// scripts/graph-picture.sh is run again. (The SVG itself is not compared
// with a fresh rendering: dot's layout differs between graphviz versions.)
func TestGraphPicture_IsTheQuickstartsGraph(t *testing.T) {
	work := t.TempDir()
	env := map[string]string{"DRS_DEMO_DIR": work}
	for _, name := range []string{"primary", "reporting", "dr"} {
		srv, err := sqlsim.Start(sqlsim.Options{Addr: "127.0.0.1:0", DataDir: filepath.Join(work, name+"-sim"), Name: strings.ToUpper(name)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		env["DRS_"+strings.ToUpper(name)+"_DSN"] = srv.DSN("")
	}
	for _, d := range []string{"backups", "reporting", "dr", "reporting-data", "dr-data"} {
		if err := os.MkdirAll(filepath.Join(work, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlserver", env["DRS_PRIMARY_DSN"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE [Shop]"); err != nil {
		t.Fatal(err)
	}
	getenv := func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	drs := func(args ...string) string {
		t.Helper()
		args = append([]string{"-chdir", filepath.Join(examplesDir, "quickstart"), "-state", filepath.Join(work, "drs.state.json"), "-no-color"}, args...)
		code, stdout, stderr := runDrsctl(getenv, args...)
		if code != 0 {
			t.Fatalf("drsctl %q: exit %d\n%s%s", args, code, stdout, stderr)
		}
		return stdout
	}
	drs("apply", "-auto-approve")
	got := lagRe.ReplaceAllString(strings.ReplaceAll(drs("graph"), work, pictureDir), "(… behind)")
	committed := readFile(t, filepath.Join(repoRoot, "docs", "graph.dot"))
	if want := lagRe.ReplaceAllString(committed, "(… behind)"); got != want {
		t.Errorf("docs/graph.dot is not what drsctl graph prints after the quickstart's first apply: run scripts/graph-picture.sh\n--- drsctl graph (lag masked):\n%s--- docs/graph.dot:\n%s", got, committed)
	}
	if strings.Contains(committed, "breach") || strings.Contains(committed, "unknown") {
		t.Errorf("docs/graph.dot shows a target that is not ok after the first apply:\n%s", committed)
	}

	// The SVG draws every node and every line of every label of the DOT.
	texts, titles := svgTexts(t, filepath.Join(repoRoot, "docs", "graph.svg"))
	for _, m := range regexp.MustCompile(`(?m)^  ("(?:[^"\\]|\\.)*") \[`).FindAllStringSubmatch(committed, -1) {
		if id := dotUnquote(m[1]); !slices.Contains(titles, id) {
			t.Errorf("docs/graph.svg has no node %s: render docs/graph.dot again (scripts/graph-picture.sh)", id)
		}
	}
	for _, m := range regexp.MustCompile(`label = ("(?:[^"\\]|\\.)*")`).FindAllStringSubmatch(committed, -1) {
		for _, line := range strings.Split(dotUnquote(m[1]), "\n") {
			if !slices.Contains(texts, line) {
				t.Errorf("docs/graph.svg does not show %q: render docs/graph.dot again (scripts/graph-picture.sh)", line)
			}
		}
	}

	// The script renders what the command printed, unchanged.
	script := readFile(t, filepath.Join(repoRoot, "scripts", "graph-picture.sh"))
	for _, want := range []string{"work=" + pictureDir + "\n", `drs graph >"$root/docs/graph.dot"`, `dot -Tsvg "$root/docs/graph.dot" -o "$root/docs/graph.svg"`} {
		if !strings.Contains(script, want) {
			t.Errorf("scripts/graph-picture.sh lacks %s", want)
		}
	}
}

// dotUnquote reads a DOT string as graph writes it (\" \\ and \n escapes).
func dotUnquote(q string) string {
	return strings.NewReplacer(`\\`, `\`, `\"`, `"`, `\n`, "\n").Replace(q[1 : len(q)-1])
}

// svgTexts returns the text of every <text> and <title> element of an SVG.
func svgTexts(t *testing.T, p string) (texts, titles []string) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(readFile(t, p)))
	dec.Strict = false // graphviz's DOCTYPE
	var in string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			in = tok.Name.Local
		case xml.EndElement:
			in = ""
		case xml.CharData:
			switch in {
			case "text":
				texts = append(texts, strings.TrimSpace(string(tok)))
			case "title":
				titles = append(titles, strings.TrimSpace(string(tok)))
			}
		}
	}
	return texts, titles
}
