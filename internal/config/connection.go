package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// dsnScheme matches a connection string written as a URL, capturing its
// scheme. ADO (server=…;user id=…) and ODBC (odbc:server=…) strings do not
// match: a "=" or ":" comes before any "://".
var dsnScheme = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://`)

// checkConnection reports a known connection string the engine would
// misread at connect time. For sqlserver (go-mssqldb's msdsn.Parse), a URL
// whose scheme is not exactly "sqlserver" is read as an ADO string with no
// server, and the connection goes to localhost:1433. A value that depends on
// an unset environment variable is not checked (validate in CI); at plan
// and apply time the variable is set and the value is checked like a
// literal. Details never quote the value: it carries a password.
func checkConnection(engine string, s Secret) *hcl.Diagnostic {
	v, err := s.Value()
	if err != nil || (engine != "sqlserver" && engine != EnginePostgres) {
		return nil
	}
	v = strings.TrimSpace(v)
	bad := func(summary, detail string) *hcl.Diagnostic {
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: s.Range.Ptr()}
	}
	if engine == EnginePostgres {
		return checkPostgresConnection(v, bad)
	}
	const forms = "sqlserver://USER@HOST:PORT?database=master (the password from env()), or server=HOST,PORT;user id=USER;password=…"
	m := dsnScheme.FindStringSubmatch(v)
	if m == nil {
		return nil
	}
	if m[1] != "sqlserver" {
		hint := ""
		if strings.EqualFold(m[1], "sqlserver") {
			hint = " Write the scheme in lower case: the driver only recognises sqlserver://."
		}
		return bad("Unsupported connection string scheme", fmt.Sprintf("The connection string starts with %s://, which the SQL Server driver does not recognise: it would ignore the host and connect to localhost:1433. Write %s.%s", m[1], forms, hint))
	}
	u, perr := url.Parse(v)
	if perr != nil {
		return bad("Invalid connection string", "The connection string starts with sqlserver:// but is not a URL (a character in the user or password may need escaping, such as %40 for @ and %25 for %). Write "+forms+".")
	}
	if u.Host == "" || strings.HasPrefix(u.Host, ":") {
		return bad("Connection string has no server", "A sqlserver:// connection string must name the server: "+forms+".")
	}
	if msg := portProblem(u); msg != "" {
		return bad("Invalid port", fmt.Sprintf("The connection string has a %s.", msg))
	}
	return nil
}
