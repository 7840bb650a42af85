package sqlsim

import (
	"strings"
	"unicode"
)

type tokKind int

const (
	tkEOF     tokKind = iota
	tkIdent           // regular identifier or keyword (text as written)
	tkQIdent          // [bracketed] or "quoted" identifier (text unescaped)
	tkString          // '...' (text unescaped)
	tkNString         // N'...'
	tkNumber          // 123 or 1.5
	tkVar             // @name (text includes @)
	tkSysVar          // @@name (text includes @@)
	tkPunct           // ( ) , ; . = < > <= >= <> != * + -
)

type token struct {
	kind tokKind
	text string
	raw  string // the source text, for messages
	pos  int    // byte offset in the batch
	line int    // 1-based
}

// lex splits a batch into tokens, skipping whitespace and comments.
func lex(src string) ([]token, *sqlError) {
	var toks []token
	rs := []rune(src)
	line := 1
	i := 0
	bytePos := func(ri int) int { return len(string(rs[:ri])) }
	for i < len(rs) {
		c := rs[i]
		switch {
		case c == '\n':
			line++
			i++
			continue
		case unicode.IsSpace(c):
			i++
			continue
		case c == '-' && i+1 < len(rs) && rs[i+1] == '-':
			for i < len(rs) && rs[i] != '\n' {
				i++
			}
			continue
		case c == '/' && i+1 < len(rs) && rs[i+1] == '*':
			depth := 0
			for i < len(rs) {
				if rs[i] == '/' && i+1 < len(rs) && rs[i+1] == '*' {
					depth++
					i += 2
					continue
				}
				if rs[i] == '*' && i+1 < len(rs) && rs[i+1] == '/' {
					depth--
					i += 2
					if depth == 0 {
						break
					}
					continue
				}
				if rs[i] == '\n' {
					line++
				}
				i++
			}
			if depth != 0 {
				return nil, newErr(113, 15, "Missing end comment mark '*/'.")
			}
			continue
		}
		start := i
		startLine := line
		tok := token{pos: bytePos(start), line: startLine}
		switch {
		case (c == 'N' || c == 'n') && i+1 < len(rs) && rs[i+1] == '\'':
			s, n, nl, ok := scanQuoted(rs[i+1:], '\'', '\'')
			if !ok {
				return nil, errUnclosedQuote(s).then(errSyntax(s))
			}
			tok.kind, tok.text = tkNString, s
			i += 1 + n
			line += nl
		case c == '\'':
			s, n, nl, ok := scanQuoted(rs[i:], '\'', '\'')
			if !ok {
				return nil, errUnclosedQuote(s).then(errSyntax(s))
			}
			tok.kind, tok.text = tkString, s
			i += n
			line += nl
		case c == '[':
			s, n, nl, ok := scanQuoted(rs[i:], '[', ']')
			if !ok {
				return nil, errUnclosedQuote(s).then(errSyntax(s))
			}
			tok.kind, tok.text = tkQIdent, s
			i += n
			line += nl
		case c == '"':
			s, n, nl, ok := scanQuoted(rs[i:], '"', '"')
			if !ok {
				return nil, errUnclosedQuote(s).then(errSyntax(s))
			}
			tok.kind, tok.text = tkQIdent, s
			i += n
			line += nl
		case c == '@' && i+1 < len(rs) && rs[i+1] == '@':
			j := i + 2
			for j < len(rs) && isIdentPart(rs[j]) {
				j++
			}
			tok.kind, tok.text = tkSysVar, string(rs[i:j])
			i = j
		case c == '@':
			j := i + 1
			for j < len(rs) && isIdentPart(rs[j]) {
				j++
			}
			if j == i+1 {
				return nil, errSyntax("@")
			}
			tok.kind, tok.text = tkVar, string(rs[i:j])
			i = j
		case unicode.IsLetter(c) || c == '_' || c == '#':
			j := i + 1
			for j < len(rs) && isIdentPart(rs[j]) {
				j++
			}
			tok.kind, tok.text = tkIdent, string(rs[i:j])
			i = j
		case c >= '0' && c <= '9' || (c == '.' && i+1 < len(rs) && rs[i+1] >= '0' && rs[i+1] <= '9'):
			j := i
			for j < len(rs) && rs[j] >= '0' && rs[j] <= '9' {
				j++
			}
			if j < len(rs) && rs[j] == '.' {
				j++
				for j < len(rs) && rs[j] >= '0' && rs[j] <= '9' {
					j++
				}
			}
			if j < len(rs) && (unicode.IsLetter(rs[j]) || rs[j] == '_') {
				// 1abc: not a number, not an identifier.
				k := j
				for k < len(rs) && isIdentPart(rs[k]) {
					k++
				}
				switch strings.ToUpper(string(rs[j:k])) {
				case "KB", "MB", "GB", "TB":
					// A file size (SIZE = 8MB): the number, then the unit.
				default:
					return nil, errSyntax(string(rs[i:k]))
				}
			}
			tok.kind, tok.text = tkNumber, string(rs[i:j])
			i = j
		case strings.ContainsRune("(),;.=*+", c):
			tok.kind, tok.text = tkPunct, string(c)
			i++
		case c == '<' || c == '>' || c == '!':
			j := i + 1
			if j < len(rs) && (rs[j] == '=' || (c == '<' && rs[j] == '>')) {
				j++
			}
			tok.kind, tok.text = tkPunct, string(rs[i:j])
			if tok.text == "!" {
				return nil, errSyntax("!")
			}
			i = j
		case c == '-':
			tok.kind, tok.text = tkPunct, "-"
			i++
		default:
			return nil, errSyntax(string(c))
		}
		if (tok.kind == tkIdent || tok.kind == tkQIdent) && utf16Len(tok.text) > 128 {
			// Identifiers are sysname, nvarchar(128): UTF-16 code units.
			return nil, newErr(103, 15, "The identifier that starts with '%s' is too long. Maximum length is 128.", truncUTF16(tok.text, 128))
		}
		tok.raw = string(rs[start:i])
		toks = append(toks, tok)
	}
	toks = append(toks, token{kind: tkEOF, pos: len(src), line: line})
	return toks, nil
}

// scanQuoted reads open...close with close doubled meaning itself. It returns
// the unescaped text, the runes consumed, the newlines crossed, and false
// when the closing quote is missing.
func scanQuoted(rs []rune, open, close rune) (string, int, int, bool) {
	var sb strings.Builder
	nl := 0
	i := 1
	for i < len(rs) {
		c := rs[i]
		if c == close {
			if i+1 < len(rs) && rs[i+1] == close {
				sb.WriteRune(close)
				i += 2
				continue
			}
			return sb.String(), i + 1, nl, true
		}
		if c == '\n' {
			nl++
		}
		sb.WriteRune(c)
		i++
	}
	return sb.String(), i, nl, false
}

func isIdentPart(c rune) bool {
	return unicode.IsLetter(c) || unicode.IsDigit(c) || c == '_' || c == '@' || c == '$' || c == '#'
}

// reserved are T-SQL's reserved keywords: they are never regular identifiers.
var reserved = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`ADD ALL ALTER AND ANY AS ASC AUTHORIZATION BACKUP BEGIN BETWEEN BREAK
	BROWSE BULK BY CASCADE CASE CHECK CHECKPOINT CLOSE CLUSTERED COALESCE COLLATE COLUMN COMMIT COMPUTE
	CONSTRAINT CONTAINS CONTAINSTABLE CONTINUE CONVERT CREATE CROSS CURRENT CURRENT_DATE CURRENT_TIME
	CURRENT_TIMESTAMP CURRENT_USER CURSOR DATABASE DBCC DEALLOCATE DECLARE DEFAULT DELETE DENY DESC DISK
	DISTINCT DISTRIBUTED DOUBLE DROP DUMP ELSE END ERRLVL ESCAPE EXCEPT EXEC EXECUTE EXISTS EXIT EXTERNAL
	FETCH FILE FILLFACTOR FOR FOREIGN FREETEXT FREETEXTTABLE FROM FULL FUNCTION GOTO GRANT GROUP HAVING
	HOLDLOCK IDENTITY IDENTITY_INSERT IDENTITYCOL IF IN INDEX INNER INSERT INTERSECT INTO IS JOIN KEY KILL
	LEFT LIKE LINENO LOAD MERGE NATIONAL NOCHECK NONCLUSTERED NOT NULL NULLIF OF OFF OFFSETS ON OPEN
	OPENDATASOURCE OPENQUERY OPENROWSET OPENXML OPTION OR ORDER OUTER OVER PERCENT PIVOT PLAN PRECISION
	PRIMARY PRINT PROC PROCEDURE PUBLIC RAISERROR READ READTEXT RECONFIGURE REFERENCES REPLICATION RESTORE
	RESTRICT RETURN REVERT REVOKE RIGHT ROLLBACK ROWCOUNT ROWGUIDCOL RULE SAVE SCHEMA SECURITYAUDIT SELECT
	SEMANTICKEYPHRASETABLE SEMANTICSIMILARITYDETAILSTABLE SEMANTICSIMILARITYTABLE SESSION_USER SET SETUSER
	SHUTDOWN SOME STATISTICS SYSTEM_USER TABLE TABLESAMPLE TEXTSIZE THEN TO TOP TRAN TRANSACTION TRIGGER
	TRUNCATE TRY_CONVERT TSEQUAL UNION UNIQUE UNPIVOT UPDATE UPDATETEXT USE USER VALUES VARYING VIEW WAITFOR
	WHEN WHERE WHILE WITH WITHIN WRITETEXT`) {
		reserved[w] = true
	}
}

func isReserved(s string) bool { return reserved[strings.ToUpper(s)] }
