package config

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// Database names reach T-SQL (bracket-quoted), file and object names
// (escaped, see internal/blob's key layout), plans, logs and the ledger.
// Quoting and escaping handle every character, so a name is refused only
// when SQL Server could not have such a database, or when it could not be
// read safely by the people reading drsctl's output.

// sqlServerNameMax is sysname's length, nvarchar(128): UTF-16 code units.
const sqlServerNameMax = 128

// systemDatabases cannot be log-shipped: they cannot be restored WITH
// NORECOVERY or STANDBY on a standby (and tempdb cannot be backed up).
var systemDatabases = []string{"master", "model", "msdb", "tempdb"}

// checkDatabaseNames reports the names of a primary's databases that drsctl
// refuses (see databaseNameProblem); empty names are checkDatabases'.
func checkDatabaseNames(engine string, attr *hcl.Attribute, dbs []item) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, db := range dbs {
		if strings.TrimSpace(db.Value) == "" {
			continue
		}
		if summary, detail := databaseNameProblem(engine, db.Value); summary != "" {
			diags = diags.Append(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  summary,
				Detail:   detail,
				Subject:  db.Range.Ptr(),
				Context:  attr.Range.Ptr(),
			})
		}
	}
	return diags
}

// databaseNameProblem says what is wrong with a database name ("" when
// nothing is). Every engine: text that is not UTF-8, control characters,
// line and paragraph separators and text-direction controls (invisible, or
// they make one name read as another in a plan). SQL Server: longer than
// sysname, a trailing space (SQL Server compares names ignoring trailing
// spaces, so "Sales " would be the database "Sales"), a system database.
func databaseNameProblem(engine, name string) (summary, detail string) {
	const rename = "Rename the database on the primary (ALTER DATABASE … MODIFY NAME = …) and list the new name."
	if !utf8.ValidString(name) {
		return "Invalid database name", fmt.Sprintf("The database name %q is not valid UTF-8 text.", name)
	}
	for i, r := range []rune(name) {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029' {
			return "Control character in database name", fmt.Sprintf(
				"The database name %q has the control character %U at character %d. drsctl refuses control characters, line separators and text-direction marks in names: they cannot be seen in plans, logs and file listings, and can make one name read as another. %s",
				name, r, i+1, rename)
		}
	}
	if engine != "sqlserver" {
		return "", ""
	}
	if n := len(utf16.Encode([]rune(name))); n > sqlServerNameMax {
		return "Database name too long", fmt.Sprintf(
			"The database name %q is %d UTF-16 code units long; SQL Server's names (sysname) hold at most %d, so no SQL Server database has it. Check the name on the primary.",
			name, n, sqlServerNameMax)
	}
	if trimmed := strings.TrimRight(name, " "); trimmed != name {
		return "Database name ends with a space", fmt.Sprintf(
			"SQL Server ignores trailing spaces when it compares names, so %q names the database %q. Write the name without its trailing spaces.",
			name, trimmed)
	}
	for _, sys := range systemDatabases {
		if strings.EqualFold(name, sys) {
			return "System database", fmt.Sprintf(
				"%q is a SQL Server system database: it cannot be restored on a standby WITH NORECOVERY or STANDBY (and tempdb cannot be backed up). List user databases only, and back up system databases with your regular jobs.",
				name)
		}
	}
	return "", ""
}

// sameButCase reports names that are equal ignoring case but not equal:
// SQL Server's default collations take them for one database, and storage
// that ignores case (SMB shares, Windows file systems) would mix up the
// files drsctl names after them.
func sameButCase(a, b string) bool { return a != b && strings.EqualFold(a, b) }
