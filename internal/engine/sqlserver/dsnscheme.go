package sqlserver

import (
	"fmt"
	"regexp"
	"strings"
)

// urlScheme matches the start of a URL: a scheme and "://".
var urlScheme = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://`)

// checkScheme refuses a connection string written as a URL with a scheme
// other than sqlserver://. go-mssqldb reads anything that does not start
// with exactly "sqlserver://" or "odbc:" as an ADO string, so
// "sqlsrv://sa@db1:1433" became an empty server list and a dial to
// localhost:1433. The error names only the scheme, never the rest.
func checkScheme(connection string) error {
	m := urlScheme.FindStringSubmatch(strings.TrimSpace(connection))
	if m == nil || m[1] == "sqlserver" {
		return nil
	}
	hint := ""
	if strings.EqualFold(m[1], "sqlserver") {
		hint = " (the scheme is case-sensitive: write it in lower case)"
	}
	return fmt.Errorf("the connection string's scheme %q is unknown%s: drsctl's SQL Server engine takes a URL sqlserver://USER@HOST:PORT?database=master (or, without a scheme, the ADO form \"server=HOST,PORT;user id=USER;…\" or the ODBC form \"odbc:server=…\")", m[1]+"://", hint)
}
