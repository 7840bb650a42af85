package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// validate runs the checks that span blocks and fills cfg with the decoded
// blocks, references resolved.
//
// There are no reference cycles to look for: references point one way only
// (target → primary → backup_folder), and no block kind refers to its own
// kind, so the graph is acyclic by construction of the schema.
func (l *loader) validate(cfg *Config) hcl.Diagnostics {
	var diags hcl.Diagnostics

	// state: at most one, a default beside the configuration otherwise.
	cfg.State = StateBlock{URL: DefaultStateURL}
	for i, s := range l.states {
		if i == 0 {
			cfg.State = s.State
			continue
		}
		diags = diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "More than one state block",
			Detail:   fmt.Sprintf("A configuration has at most one state block; the first is at %s.", rangeWhere(l.states[0].State.DeclRange)),
			Subject:  s.State.DeclRange.Ptr(),
		})
	}

	// backup folders: unique names.
	folders := map[string]*folderDecl{}
	var folderNames []string
	for _, d := range l.folders {
		if first, ok := folders[d.Folder.Name]; ok {
			diags = diags.Append(duplicateName("backup_folder", d.Folder.Name, d.NameRange, first.NameRange))
			continue
		}
		folders[d.Folder.Name] = d
		folderNames = append(folderNames, d.Folder.Name)
		cfg.BackupFolders = append(cfg.BackupFolders, d.Folder)
	}

	// primaries: unique names, backup_folder resolved.
	primaries := map[string]*primaryDecl{}
	folded := map[string]*primaryDecl{}
	var primaryNames []string
	for _, d := range l.primaries {
		if first, ok := primaries[d.Primary.Name]; ok {
			diags = diags.Append(duplicateName("primary", d.Primary.Name, d.NameRange, first.NameRange))
			continue
		}
		if first, ok := folded[strings.ToLower(d.Primary.Name)]; ok && sameButCase(first.Primary.Name, d.Primary.Name) {
			// Backup files live under the primary's name: storage that
			// ignores case would mix up the two primaries' files.
			diags = diags.Append(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Primary names differ only in case",
				Detail: fmt.Sprintf("The primaries %q (at %s) and %q differ only in case; drsctl keeps each primary's backups under its name, and SMB shares and Windows file systems would mix up the two. Rename one of them.",
					first.Primary.Name, rangeWhere(first.NameRange), d.Primary.Name),
				Subject: d.NameRange.Ptr(),
			})
		}
		folded[strings.ToLower(d.Primary.Name)] = d
		primaries[d.Primary.Name] = d
		primaryNames = append(primaryNames, d.Primary.Name)
		cfg.Primaries = append(cfg.Primaries, d.Primary)
	}
	for _, d := range l.primaries {
		if ref := d.FolderRef; ref != nil {
			if f, ok := folders[ref.Name]; ok {
				d.Primary.Folder = f.Folder
			} else {
				diags = diags.Append(undeclared(ref, folderNames))
			}
		}
	}
	// A folder's server_path is needed when a server writes into it: any
	// primary but a PostgreSQL one (drsctl carries those backups itself).
	for _, f := range l.folders {
		if f.missingServerPath == nil {
			continue
		}
		carried := false
		for _, d := range l.primaries {
			if d.Primary.Folder != f.Folder {
				continue
			}
			if d.Primary.Engine != EnginePostgres {
				carried = false
				break
			}
			carried = true
		}
		if carried && f.url != nil {
			f.Folder.ServerPath = carriedServerPath(f.url)
		} else {
			diags = diags.Append(f.missingServerPath)
		}
	}

	// targets: unique names, primary resolved, then checked against it.
	targets := map[string]*targetDecl{}
	for _, d := range l.targets {
		if first, ok := targets[d.Target.Name]; ok {
			diags = diags.Append(duplicateName("target", d.Target.Name, d.NameRange, first.NameRange))
			continue
		}
		targets[d.Target.Name] = d
		cfg.Targets = append(cfg.Targets, d.Target)
	}
	// destinations[primary][location] is the first target shipping there.
	destinations := map[*Primary]map[string]*targetDecl{}
	for _, d := range l.targets {
		ref := d.PrimaryRef
		if ref == nil {
			continue
		}
		pd, ok := primaries[ref.Name]
		if !ok {
			diags = diags.Append(undeclared(ref, primaryNames))
			continue
		}
		d.Target.Primary = pd.Primary
		if d.MissingServerPath != nil {
			if pd.Primary.Engine == EnginePostgres && d.DestURL != nil {
				d.Target.Destination.ServerPath = carriedServerPath(d.DestURL)
			} else {
				diags = diags.Append(d.MissingServerPath)
			}
		}
		if bad := checkConnection(pd.Primary.Engine, d.Target.Connection); bad != nil {
			diags = diags.Append(bad)
		}
		diags = append(diags, checkTargetAgainstPrimary(d, pd, folders)...)
		diags = append(diags, checkPostgresTarget(d, pd)...)

		if d.DestURL == nil {
			continue
		}
		key := locationKey(d.DestURL)
		if destinations[pd.Primary] == nil {
			destinations[pd.Primary] = map[string]*targetDecl{}
		}
		if first, ok := destinations[pd.Primary][key]; ok {
			diags = diags.Append(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Shared destination",
				Detail: fmt.Sprintf("Targets %q and %q of primary %q ship to the same destination (the first at %s); their copies would collide and each target's pruning would delete the other's files. Give each target its own destination url.",
					first.Target.Name, d.Target.Name, pd.Primary.Name, rangeWhere(first.DestAttr.Expr.Range())),
				Subject: d.DestAttr.Expr.Range().Ptr(),
				Context: d.DestAttr.Range.Ptr(),
			})
			continue
		}
		destinations[pd.Primary][key] = d
	}
	return diags
}

// checkTargetAgainstPrimary checks what a target can only get wrong
// relative to its primary.
func checkTargetAgainstPrimary(d *targetDecl, pd *primaryDecl, folders map[string]*folderDecl) hcl.Diagnostics {
	var diags hcl.Diagnostics
	p := pd.Primary
	for _, db := range d.Databases {
		if db.Value == "" || slices.Contains(p.Databases, db.Value) {
			continue
		}
		diags = diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Database not on primary",
			Detail: fmt.Sprintf("Primary %q has no database %q; it protects %s.%s",
				p.Name, db.Value, quotedAnd(p.Databases), didYouMean(db.Value, p.Databases)),
			Subject: db.Range.Ptr(),
		})
	}

	if pd.FolderRef != nil && d.DestURL != nil {
		if f, ok := folders[pd.FolderRef.Name]; ok && f.url != nil && locationKey(f.url) == locationKey(d.DestURL) {
			diags = diags.Append(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Destination is the backup folder",
				Detail: fmt.Sprintf("Target %q ships to the backup folder %q of its primary %q: it would copy every file onto itself, and its retention would prune the primary's backups. Give the target its own destination url.",
					d.Target.Name, f.Folder.Name, p.Name),
				Subject: d.DestAttr.Expr.Range().Ptr(),
				Context: d.DestAttr.Range.Ptr(),
			})
		}
	}

	if d.DelayAttr != nil && pd.RPOAttr != nil && d.Target.Restores() && d.Target.RestoreDelay >= p.RPO {
		diags = diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Restore delay not shorter than RPO",
			Detail: fmt.Sprintf("A standby's RPO is measured on what it has restored, so with restore_delay = %q and primary %q's rpo = %q the target %q will always be in breach.",
				formatDuration(d.Target.RestoreDelay), p.Name, formatDuration(p.RPO), d.Target.Name),
			Subject: d.DelayAttr.Expr.Range().Ptr(),
			Context: d.DelayAttr.Range.Ptr(),
		})
	}
	if pd.RPOAttr != nil {
		diags = append(diags, checkWindowRPO(d, p)...)
	}
	return diags
}

func duplicateName(kind, name string, rng, first hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Duplicate %s name", blockKindWords(kind)),
		Detail:   fmt.Sprintf("A %s named %q is already declared at %s. Names must be unique among %s blocks.", blockKindWords(kind), name, rangeWhere(first), kind),
		Subject:  rng.Ptr(),
	}
}

func undeclared(ref *reference, names []string) *hcl.Diagnostic {
	words := blockKindWords(ref.Kind)
	detail := fmt.Sprintf("No %s named %q is declared.", words, ref.Name)
	if s := didYouMean(ref.Name, names); s != "" {
		detail += s
	} else if len(names) > 0 {
		detail += fmt.Sprintf(" Declared: %s.", quotedAnd(names))
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Reference to undeclared %s", words),
		Detail:   detail,
		Subject:  ref.Range.Ptr(),
	}
}

// didYouMean returns ` Did you mean "x"?` for the candidate closest to
// given (case-insensitively, within an edit distance of 2), or "".
func didYouMean(given string, candidates []string) string {
	best, bestDist := "", 3
	lg := strings.ToLower(given)
	for _, c := range candidates {
		if c == given {
			continue
		}
		if d := levenshtein(lg, strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" Did you mean %q?", best)
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

func quotedList(vs []string, last string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = fmt.Sprintf("%q", v)
	}
	if len(q) <= 1 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " " + last + " " + q[len(q)-1]
}

func quotedOr(vs []string) string  { return quotedList(vs, "or") }
func quotedAnd(vs []string) string { return quotedList(vs, "and") }

// StateLocation is where the state lives: the state url as written when it
// is a URL other than file:// (s3://…, azblob://…), otherwise a local file
// path, made absolute against Dir when relative (the default
// "drs.state.json" is beside the configuration).
func (c *Config) StateLocation() string {
	s := c.State.URL
	if s == "" {
		s = DefaultStateURL
	}
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "file" {
			return s
		}
		s = filepath.FromSlash(fileURLPath(u))
	}
	if !filepath.IsAbs(s) && c.Dir != "" {
		s = filepath.Join(c.Dir, s)
	}
	return s
}
