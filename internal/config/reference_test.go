package config

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// referencePath is the configuration reference, from this package.
const referencePath = "../../docs/configuration.md"

// blockSchemas maps each block type to the schema its decode function
// passes to Body.Content — the schemas hcl checks every file against, so
// what they list is exactly what the decoder accepts. A block type nested
// in a schema but missing here fails TestReference_DescribesSchema.
var blockSchemas = map[string]*hcl.BodySchema{
	"state":          stateSchema,
	"backup_folder":  backupFolderSchema,
	"primary":        primarySchema,
	"full_backup":    scheduleSchema,
	"log_backup":     logScheduleSchema,
	"target":         targetSchema,
	"destination":    destinationSchema,
	"restore_window": restoreWindowSchema,
}

// docSections splits a markdown document into sections, keyed by heading
// text, each holding the lines up to the next heading.
func docSections(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatalf("read the configuration reference: %v", err)
	}
	sections := map[string]string{}
	heading := ""
	inCode := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if !inCode && strings.HasPrefix(line, "#") {
			heading = strings.TrimSpace(strings.TrimLeft(line, "#"))
			continue
		}
		sections[heading] += line + "\n"
	}
	return sections
}

// describes reports whether a section has a table row for name: a line
// starting "| `name`" (a row may list several: "| `A`, `B` |").
func describes(section, name string) bool {
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| ") {
			continue
		}
		first, _, _ := strings.Cut(strings.TrimPrefix(line, "| "), " |")
		if slices.Contains(strings.Split(first, ", "), "`"+name+"`") {
			return true
		}
	}
	return false
}

// TestReference_DescribesSchema fails, naming each, for every block and
// attribute the decoder accepts that docs/configuration.md does not
// describe: a "`TYPE` block" heading per block, a table row per attribute.
func TestReference_DescribesSchema(t *testing.T) {
	sections := docSections(t)
	var walk func(path string, schema *hcl.BodySchema)
	walk = func(path string, schema *hcl.BodySchema) {
		section, ok := sections["`"+path[strings.LastIndex(path, ".")+1:]+"` block"]
		if path != "" && !ok {
			t.Errorf("docs/configuration.md has no section \"`%s` block\" for the block %s", path[strings.LastIndex(path, ".")+1:], path)
		}
		for _, a := range schema.Attributes {
			if path == "" || !ok {
				continue
			}
			if !describes(section, a.Name) {
				t.Errorf("docs/configuration.md does not describe %s's attribute %q (a row \"| `%s` |\" under \"`%s` block\")", path, a.Name, a.Name, path[strings.LastIndex(path, ".")+1:])
			}
		}
		for _, b := range schema.Blocks {
			child, ok := blockSchemas[b.Type]
			if !ok {
				t.Errorf("block %q has no entry in blockSchemas (reference_test.go): add the schema its decode function uses", b.Type)
				continue
			}
			p := b.Type
			if path != "" {
				p = path + "." + b.Type
			}
			walk(p, child)
		}
	}
	walk("", rootSchema)
}

// TestReference_DescribesURLParameters fails for each scheme and query
// parameter validate accepts that the reference does not describe.
func TestReference_DescribesURLParameters(t *testing.T) {
	sections := docSections(t)
	for _, scheme := range DefaultSchemes {
		section, ok := sections["`"+scheme+"://` URLs"]
		if !ok {
			t.Errorf("docs/configuration.md has no section \"`%s://` URLs\"", scheme)
			continue
		}
		for _, p := range URLParameters[scheme] {
			if !describes(section, p.Name) {
				t.Errorf("docs/configuration.md does not describe the %s:// parameter %q (a row \"| `%s` |\" under \"`%s://` URLs\")", scheme, p.Name, p.Name, scheme)
			}
		}
	}
}

// TestReference_DescribesFunctions fails for each function configuration
// expressions may call that the reference does not describe.
func TestReference_DescribesFunctions(t *testing.T) {
	section := docSections(t)["Functions"]
	for name := range functions(".", nil, &unsetRecorder{}) {
		if !strings.Contains(section, "| `"+name+"(") {
			t.Errorf("docs/configuration.md does not describe the function %s() (a row \"| `%s(…)` |\" under \"Functions\")", name, name)
		}
	}
}

// envRead matches the environment variables drsctl's code reads: a
// Getenv/LookupEnv of a literal name, or a DRSCTL_ name anywhere.
var envRead = regexp.MustCompile(`(?:Getenv|LookupEnv)\("([A-Za-z_][A-Za-z0-9_]*)"\)|"(DRSCTL_[A-Z0-9_]+)"`)

// TestReference_DescribesEnvironment fails for each environment variable
// drsctl's code (cmd/, internal/, tests and the test helpers aside) reads
// that the reference does not describe.
func TestReference_DescribesEnvironment(t *testing.T) {
	section := docSections(t)["Environment variables"]
	found := map[string]string{}
	for _, root := range []string{"../../cmd", "../../internal"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "testenv" {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range envRead.FindAllStringSubmatch(string(b), -1) {
				found[m[1]+m[2]] = path
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(found) < 5 {
		t.Fatalf("found only %d environment variables in the code; is the walk looking in the right place?", len(found))
	}
	for _, name := range slices.Sorted(maps.Keys(found)) {
		if !strings.Contains(section, "`"+name+"`") {
			t.Errorf("docs/configuration.md does not describe the environment variable %s (read in %s)", name, found[name])
		}
	}
}
