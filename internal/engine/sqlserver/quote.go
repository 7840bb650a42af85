package sqlserver

import "strings"

// quoteIdent makes name a T-SQL identifier: in brackets, with every closing
// bracket doubled. It is the only way a database or logical file name ever
// enters a statement's text.
func quoteIdent(name string) string {
	return "[" + strings.ReplaceAll(name, "]", "]]") + "]"
}

// quoteString makes s a Unicode T-SQL string literal: N'…' with every single
// quote doubled. It is the only way a path, URL or other text ever enters a
// statement's text.
func quoteString(s string) string {
	return "N'" + strings.ReplaceAll(s, "'", "''") + "'"
}
