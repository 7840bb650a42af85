package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/drsctl/drsctl/internal/plan"
)

// loadSavedPlan reads the plan FILE given to apply or show. A file that is
// not a saved plan at all (a configuration file, the state, anything not
// starting with JSON) is named as such, with what the command takes
// instead, rather than a JSON decoder's "invalid character 'b'".
func loadSavedPlan(verb, path string) (*plan.Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	head, _ := br.Peek(512)
	if what, ok := notAPlan(path, head); ok {
		return nil, fmt.Errorf("%s is not a saved plan: %s", path, what+takesInstead(verb))
	}
	p, err := plan.Load(br)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return p, nil
}

// notAPlan says what the start of a file shows it to be, when that is
// clearly not a saved plan (a JSON object).
func notAPlan(path string, head []byte) (string, bool) {
	trimmed := bytes.TrimLeft(head, " \t\r\n\ufeff")
	switch {
	case len(trimmed) == 0 || trimmed[0] == '{':
		return "", false // plan.Load says what is wrong with it
	case bytes.HasPrefix(head, []byte("drsctl ledger")):
		return "it is a drsctl state file", true
	case strings.HasSuffix(path, ".hcl") || looksLikeHCL(trimmed):
		return "it looks like a configuration file", true
	}
	return "it does not start with JSON", true
}

// looksLikeHCL reports whether text starts like a drsctl configuration: a
// comment or a top-level block.
func looksLikeHCL(text []byte) bool {
	s := string(text)
	for _, p := range []string{"#", "//", "/*", "backup_folder ", "primary ", "target ", "state "} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func takesInstead(verb string) string {
	switch verb {
	case "apply":
		return ". apply takes a saved plan (drsctl plan -out FILE) or no argument; it reads the configuration from the current directory, -chdir DIR reads it from DIR, -config FILE from one file"
	case "show":
		return ". show takes a saved plan (drsctl plan -out FILE), or no argument to show the state"
	}
	return ""
}
