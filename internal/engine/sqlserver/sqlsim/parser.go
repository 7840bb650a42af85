package sqlsim

import (
	"math/big"
	"strconv"
	"strings"
)

// ---- AST ----

type stmt interface{ base() *stmtBase }

type stmtBase struct {
	line int
	text string
}

func (b *stmtBase) base() *stmtBase { return b }

type expr interface{}

type litExpr struct{ v value }
type paramExpr struct{ name string }  // @p1 (as written)
type sysVarExpr struct{ name string } // @@SPID, upper case
type funcExpr struct {
	name string // upper case
	args []expr
	star bool // COUNT(*)
}
type colExpr struct {
	qual string // table alias or name, "" if none
	name string
}

type selItem struct {
	e     expr
	alias string
	star  bool
}

type objName struct {
	parts []string // as written: 1..4 parts, "" for an omitted middle part
	text  string
}

func (o objName) last() string { return o.parts[len(o.parts)-1] }

type fromItem struct {
	obj   objName
	alias string
	on    []pred // join condition (nil for the first source)
}

type pred struct {
	l, r   expr
	op     string // = <> < <= > >= ISNULL ISNOTNULL
	nested []pred // parenthesised conjunction
}

type orderItem struct {
	e    expr
	desc bool
}

type selectStmt struct {
	stmtBase
	top   expr
	items []selItem
	from  []fromItem
	where []pred
	order []orderItem
}

// nameArg is a database name written as an identifier or passed as @var.
type nameArg struct {
	ident string
	param string
}

type useStmt struct {
	stmtBase
	db string
}

type createDBStmt struct {
	stmtBase
	name nameArg
}

type dropDBStmt struct {
	stmtBase
	ifExists bool
	names    []nameArg
}

type alterRecoveryStmt struct {
	stmtBase
	name  nameArg
	model string
}

type insertStmt struct {
	stmtBase
	table objName
	cols  []string
	rows  [][]expr
}

type option struct {
	name string // upper case
	val  expr   // nil when the option has no value
	to   expr   // MOVE … TO
}

type device struct {
	kind string // DISK or URL
	path expr
	// more are the other devices of a striped media set (URL only: see
	// url.go), in the order written.
	more []expr
}

type backupStmt struct {
	stmtBase
	log    bool
	db     nameArg
	device device
	opts   []option
}

type restoreStmt struct {
	stmtBase
	what   string // DATABASE, LOG, HEADERONLY, FILELISTONLY, VERIFYONLY, LABELONLY
	db     nameArg
	device *device
	opts   []option
}

// checkDBStmt is DBCC CHECKDB (db) [WITH NO_INFOMSGS, ALL_ERRORMSGS].
type checkDBStmt struct {
	stmtBase
	db   expr // a name as an identifier (litExpr) or a string or @var
	opts []string
}

type killStmt struct {
	stmtBase
	spid expr
}

type waitforStmt struct {
	stmtBase
	delay expr
}

type setStmt struct {
	stmtBase
	option string
	on     bool
}

// ---- parser ----

type parser struct {
	src  string
	toks []token
	i    int
}

func parseBatch(src string) ([]stmt, *sqlError) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	var out []stmt
	for {
		for p.isPunct(p.peek(), ";") {
			p.i++
		}
		if p.peek().kind == tkEOF {
			return out, nil
		}
		start := p.peek()
		startIdx := p.i
		s, err := p.statement()
		if err != nil {
			if m := &err.msgs[len(err.msgs)-1]; m.Number == 102 && !strings.Contains(m.Text, "(sqlsim") {
				at := p.i
				p.i = startIdx
				m.Text += " (sqlsim does not understand the statement: " + p.stmtText() + ")"
				p.i = at
			}
			for i := range err.msgs {
				if err.msgs[i].Line == 0 {
					err.msgs[i].Line = int32(p.peek().line)
				}
			}
			return nil, err
		}
		b := s.base()
		b.line = start.line
		end := p.peek().pos
		b.text = strings.TrimSpace(src[start.pos:end])
		out = append(out, s)
	}
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) peekAt(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tkEOF {
		p.i++
	}
	return t
}

func (p *parser) isKw(t token, kw string) bool {
	return t.kind == tkIdent && strings.EqualFold(t.text, kw)
}

func (p *parser) isPunct(t token, s string) bool { return t.kind == tkPunct && t.text == s }

func (p *parser) acceptKw(kw string) bool {
	if p.isKw(p.peek(), kw) {
		p.i++
		return true
	}
	return false
}

func (p *parser) acceptPunct(s string) bool {
	if p.isPunct(p.peek(), s) {
		p.i++
		return true
	}
	return false
}

func (p *parser) near(t token) *sqlError {
	if t.kind == tkEOF {
		// SQL Server names the last token when the batch ends early.
		if p.i > 0 {
			return errSyntax(p.toks[p.i-1].raw)
		}
		return errSyntax("")
	}
	return errSyntax(t.raw)
}

func (p *parser) expectKw(kw string) *sqlError {
	if !p.acceptKw(kw) {
		return p.near(p.peek())
	}
	return nil
}

func (p *parser) expectPunct(s string) *sqlError {
	if !p.acceptPunct(s) {
		return p.near(p.peek())
	}
	return nil
}

// ident reads an identifier: bracketed/quoted, or regular and not reserved.
func (p *parser) ident() (string, *sqlError) {
	t := p.peek()
	switch {
	case t.kind == tkQIdent:
		p.i++
		return t.text, nil
	case t.kind == tkIdent && !isReserved(t.text):
		p.i++
		return t.text, nil
	}
	return "", p.near(t)
}

func (p *parser) isIdent(t token) bool {
	return t.kind == tkQIdent || (t.kind == tkIdent && !isReserved(t.text))
}

// stmtText is the source from the current token to the next ';' (for messages).
func (p *parser) stmtText() string {
	start := p.peek().pos
	end := len(p.src)
	for j := p.i; j < len(p.toks); j++ {
		if p.isPunct(p.toks[j], ";") {
			end = p.toks[j].pos
			break
		}
	}
	s := strings.Join(strings.Fields(p.src[start:end]), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func (p *parser) notUnderstood() *sqlError {
	t := p.peek()
	return errNotUnderstood(t.raw, p.stmtText())
}

func (p *parser) statement() (stmt, *sqlError) {
	t := p.peek()
	if t.kind != tkIdent {
		return nil, p.notUnderstood()
	}
	switch strings.ToUpper(t.text) {
	case "SELECT":
		return p.selectStmt()
	case "USE":
		p.i++
		name, err := p.ident()
		if err != nil {
			return nil, err
		}
		return &useStmt{db: name}, nil
	case "CREATE":
		if p.isKw(p.peekAt(1), "CREDENTIAL") {
			return p.createCredentialStmt()
		}
		if !p.isKw(p.peekAt(1), "DATABASE") {
			return nil, p.notUnderstood()
		}
		p.i += 2
		n, err := p.identArg()
		if err != nil {
			return nil, err
		}
		if !p.atStatementEnd() {
			return nil, p.notUnderstoodAt()
		}
		return &createDBStmt{name: n}, nil
	case "DROP":
		if p.isKw(p.peekAt(1), "CREDENTIAL") {
			return p.dropCredentialStmt()
		}
		if !p.isKw(p.peekAt(1), "DATABASE") {
			return nil, p.notUnderstood()
		}
		p.i += 2
		s := &dropDBStmt{}
		if p.isKw(p.peek(), "IF") && p.isKw(p.peekAt(1), "EXISTS") {
			p.i += 2
			s.ifExists = true
		}
		for {
			n, err := p.identArg()
			if err != nil {
				return nil, err
			}
			s.names = append(s.names, n)
			if !p.acceptPunct(",") {
				break
			}
		}
		return s, nil
	case "ALTER":
		if !p.isKw(p.peekAt(1), "DATABASE") {
			return nil, p.notUnderstood()
		}
		start := p.i
		p.i += 2
		n, err := p.identArg()
		if err != nil {
			return nil, err
		}
		if p.isKw(p.peek(), "ADD") || p.isKw(p.peek(), "REMOVE") {
			return p.alterFile(n)
		}
		if p.isKw(p.peek(), "SET") && isAccessWord(p.peekAt(1)) {
			p.i++
			return p.alterAccess(n)
		}
		if !p.acceptKw("SET") || !p.acceptKw("RECOVERY") {
			p.i = start
			return nil, p.notUnderstood()
		}
		m := p.next()
		model := strings.ToUpper(m.text)
		if m.kind != tkIdent || (model != "FULL" && model != "SIMPLE" && model != "BULK_LOGGED") {
			return nil, p.near(m)
		}
		if p.acceptKw("WITH") {
			if !p.acceptKw("NO_WAIT") {
				if err := p.expectKw("ROLLBACK"); err != nil {
					return nil, err
				}
				if err := p.expectKw("IMMEDIATE"); err != nil {
					return nil, err
				}
			}
		}
		return &alterRecoveryStmt{name: n, model: model}, nil
	case "BEGIN", "COMMIT", "ROLLBACK":
		return p.tranStmt()
	case "INSERT":
		return p.insertStmt()
	case "BACKUP":
		return p.backupStmt()
	case "RESTORE":
		return p.restoreStmt()
	case "DBCC":
		return p.dbccStmt()
	case "KILL":
		// KILL takes a literal session id, never a variable.
		p.i++
		t := p.peek()
		if t.kind != tkNumber {
			return nil, p.near(t)
		}
		p.i++
		return &killStmt{spid: numberLit(t.text, false)}, nil
	case "WAITFOR":
		p.i++
		if err := p.expectKw("DELAY"); err != nil {
			return nil, err
		}
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		return &waitforStmt{delay: e}, nil
	case "SET":
		opt := p.peekAt(1)
		val := p.peekAt(2)
		name := strings.ToUpper(opt.text)
		if opt.kind == tkIdent && (name == "NOCOUNT" || name == "XACT_ABORT" || name == "ANSI_NULLS" || name == "QUOTED_IDENTIFIER" || name == "ANSI_WARNINGS" || name == "ARITHABORT") &&
			(p.isKw(val, "ON") || p.isKw(val, "OFF")) {
			p.i += 3
			return &setStmt{option: name, on: p.isKw(val, "ON")}, nil
		}
		if opt.kind == tkIdent && name == "TEXTSIZE" && val.kind == tkNumber {
			p.i += 3
			return &setStmt{option: name, on: true}, nil
		}
		return nil, p.notUnderstood()
	case "EXEC", "EXECUTE":
		p.i++
		o, err := p.objName()
		if err != nil {
			return nil, err
		}
		return nil, errNoProc(o.text)
	}
	return nil, p.notUnderstood()
}

func (p *parser) notUnderstoodAt() *sqlError { return p.notUnderstood() }

func (p *parser) atStatementEnd() bool {
	t := p.peek()
	if t.kind == tkEOF || p.isPunct(t, ";") {
		return true
	}
	if t.kind == tkIdent {
		switch strings.ToUpper(t.text) {
		case "SELECT", "USE", "CREATE", "DROP", "ALTER", "INSERT", "BACKUP", "RESTORE", "KILL", "WAITFOR", "SET", "EXEC", "EXECUTE", "DBCC", "BEGIN", "COMMIT":
			return true
		}
	}
	return false
}

// identArg is a database name where T-SQL allows no variable (CREATE,
// DROP, ALTER DATABASE).
func (p *parser) identArg() (nameArg, *sqlError) {
	s, err := p.ident()
	return nameArg{ident: s}, err
}

// nameArg is a database name where T-SQL also takes @var (BACKUP, RESTORE).
func (p *parser) nameArg() (nameArg, *sqlError) {
	t := p.peek()
	if t.kind == tkVar {
		p.i++
		return nameArg{param: t.text}, nil
	}
	s, err := p.ident()
	return nameArg{ident: s}, err
}

func (p *parser) objName() (objName, *sqlError) {
	start := p.peek()
	var parts []string
	for {
		if p.isPunct(p.peek(), ".") {
			// an omitted part (msdb..backupset)
			if len(parts) == 0 {
				return objName{}, p.near(p.peek())
			}
			parts = append(parts, "")
			p.i++
			continue
		}
		s, err := p.ident()
		if err != nil {
			return objName{}, err
		}
		parts = append(parts, s)
		if !p.isPunct(p.peek(), ".") {
			break
		}
		p.i++
	}
	if len(parts) > 4 {
		return objName{}, errSyntax(start.raw)
	}
	end := p.toks[p.i-1]
	text := p.src[start.pos : end.pos+len(end.raw)]
	return objName{parts: parts, text: text}, nil
}

// ---- expressions ----

func (p *parser) expr() (expr, *sqlError) {
	t := p.peek()
	switch t.kind {
	case tkNumber:
		p.i++
		return numberLit(t.text, false), nil
	case tkString:
		p.i++
		return &litExpr{v: value{t: sqlType{k: kVarChar, size: max(len(t.text), 1)}, v: t.text}}, nil
	case tkNString:
		p.i++
		return &litExpr{v: strVal(t.text)}, nil
	case tkVar:
		p.i++
		return &paramExpr{name: t.text}, nil
	case tkSysVar:
		p.i++
		return &sysVarExpr{name: strings.ToUpper(t.text)}, nil
	case tkPunct:
		switch t.text {
		case "-":
			p.i++
			n := p.peek()
			if n.kind != tkNumber {
				return nil, p.near(n)
			}
			p.i++
			return numberLit(n.text, true), nil
		case "(":
			p.i++
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			if err := p.expectPunct(")"); err != nil {
				return nil, err
			}
			return e, nil
		}
		return nil, p.near(t)
	case tkIdent, tkQIdent:
		if p.isKw(t, "NULL") {
			p.i++
			return &litExpr{v: null(sqlType{k: kNull})}, nil
		}
		if t.kind == tkIdent && p.isPunct(p.peekAt(1), "(") {
			name := strings.ToUpper(t.text)
			p.i += 2
			f := &funcExpr{name: name}
			if p.acceptPunct(")") {
				return f, nil
			}
			if p.isPunct(p.peek(), "*") {
				p.i++
				f.star = true
			} else {
				for {
					a, err := p.expr()
					if err != nil {
						return nil, err
					}
					f.args = append(f.args, a)
					if !p.acceptPunct(",") {
						break
					}
				}
			}
			if err := p.expectPunct(")"); err != nil {
				return nil, err
			}
			return f, nil
		}
		if t.kind == tkIdent && isReserved(t.text) {
			return nil, p.near(t)
		}
		p.i++
		c := &colExpr{name: t.text}
		if p.isPunct(p.peek(), ".") {
			p.i++
			n, err := p.ident()
			if err != nil {
				return nil, err
			}
			c.qual, c.name = c.name, n
		}
		return c, nil
	}
	return nil, p.near(t)
}

func numberLit(s string, neg bool) *litExpr {
	if neg {
		s = "-" + s
	}
	if !strings.Contains(s, ".") {
		n, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			if n >= -2147483648 && n <= 2147483647 {
				return &litExpr{v: intVal(n)}
			}
			return &litExpr{v: value{t: tBigInt, v: n}}
		}
		b, _ := new(big.Int).SetString(s, 10)
		digits := len(strings.TrimLeft(s, "-"))
		return &litExpr{v: value{t: sqlType{k: kNumeric, prec: uint8(min(max(digits, 1), 38))}, v: b}}
	}
	intPart, frac, _ := strings.Cut(strings.TrimLeft(s, "-"), ".")
	b, _ := new(big.Int).SetString(intPart+frac, 10)
	if b == nil {
		b = new(big.Int)
	}
	if neg {
		b.Neg(b)
	}
	prec := max(len(intPart)+len(frac), 1)
	return &litExpr{v: value{t: sqlType{k: kNumeric, prec: uint8(min(prec, 38)), scale: uint8(len(frac))}, v: b}}
}

// ---- SELECT ----

func (p *parser) selectStmt() (stmt, *sqlError) {
	p.i++ // SELECT
	s := &selectStmt{}
	if p.acceptKw("TOP") {
		if p.acceptPunct("(") {
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			if err := p.expectPunct(")"); err != nil {
				return nil, err
			}
			s.top = e
		} else {
			t := p.peek()
			if t.kind != tkNumber {
				return nil, p.near(t)
			}
			p.i++
			s.top = numberLit(t.text, false)
		}
	}
	for {
		var it selItem
		if p.isPunct(p.peek(), "*") {
			p.i++
			it.star = true
		} else {
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			it.e = e
			if p.acceptKw("AS") {
				t := p.peek()
				if t.kind == tkString || t.kind == tkNString {
					p.i++
					it.alias = t.text
				} else {
					a, err := p.ident()
					if err != nil {
						return nil, err
					}
					it.alias = a
				}
			} else if t := p.peek(); p.isIdent(t) || t.kind == tkString || t.kind == tkNString {
				p.i++
				it.alias = t.text
			}
		}
		s.items = append(s.items, it)
		if !p.acceptPunct(",") {
			break
		}
	}
	if p.acceptKw("FROM") {
		fi, err := p.fromItem()
		if err != nil {
			return nil, err
		}
		s.from = append(s.from, fi)
		for {
			if p.isKw(p.peek(), "INNER") && p.isKw(p.peekAt(1), "JOIN") {
				p.i++
			}
			if !p.acceptKw("JOIN") {
				if p.isKw(p.peek(), "LEFT") || p.isKw(p.peek(), "RIGHT") || p.isKw(p.peek(), "CROSS") || p.isKw(p.peek(), "FULL") || p.isPunct(p.peek(), ",") {
					return nil, p.notUnderstood()
				}
				break
			}
			fi, err := p.fromItem()
			if err != nil {
				return nil, err
			}
			if err := p.expectKw("ON"); err != nil {
				return nil, err
			}
			on, err := p.conjunction()
			if err != nil {
				return nil, err
			}
			fi.on = on
			s.from = append(s.from, fi)
		}
	}
	if p.acceptKw("WHERE") {
		w, err := p.conjunction()
		if err != nil {
			return nil, err
		}
		s.where = w
	}
	if p.isKw(p.peek(), "GROUP") || p.isKw(p.peek(), "HAVING") || p.isKw(p.peek(), "UNION") {
		return nil, p.notUnderstood()
	}
	if p.acceptKw("ORDER") {
		if err := p.expectKw("BY"); err != nil {
			return nil, err
		}
		for {
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			oi := orderItem{e: e}
			if p.acceptKw("DESC") {
				oi.desc = true
			} else {
				p.acceptKw("ASC")
			}
			s.order = append(s.order, oi)
			if !p.acceptPunct(",") {
				break
			}
		}
	}
	if p.isKw(p.peek(), "OPTION") || p.isKw(p.peek(), "FOR") {
		return nil, p.notUnderstood()
	}
	return s, nil
}

func (p *parser) fromItem() (fromItem, *sqlError) {
	o, err := p.objName()
	if err != nil {
		return fromItem{}, err
	}
	fi := fromItem{obj: o}
	if p.acceptKw("AS") {
		a, err := p.ident()
		if err != nil {
			return fromItem{}, err
		}
		fi.alias = a
	} else if p.isIdent(p.peek()) {
		fi.alias = p.next().text
	}
	if p.isKw(p.peek(), "WITH") && p.isPunct(p.peekAt(1), "(") {
		// table hints such as WITH (NOLOCK)
		p.i += 2
		for !p.isPunct(p.peek(), ")") {
			if p.peek().kind == tkEOF {
				return fromItem{}, p.near(p.peek())
			}
			p.i++
		}
		p.i++
	}
	return fi, nil
}

func (p *parser) conjunction() ([]pred, *sqlError) {
	var out []pred
	for {
		pr, err := p.predicate()
		if err != nil {
			return nil, err
		}
		out = append(out, pr)
		if p.isKw(p.peek(), "OR") {
			return nil, p.notUnderstood()
		}
		if !p.acceptKw("AND") {
			return out, nil
		}
	}
}

func (p *parser) predicate() (pred, *sqlError) {
	if p.isPunct(p.peek(), "(") {
		// Either a parenthesised conjunction or a parenthesised expression.
		save := p.i
		p.i++
		inner, err := p.conjunction()
		if err == nil && p.acceptPunct(")") {
			return pred{nested: inner}, nil
		}
		p.i = save
	}
	l, err := p.expr()
	if err != nil {
		return pred{}, err
	}
	if p.acceptKw("IS") {
		if p.acceptKw("NOT") {
			if err := p.expectKw("NULL"); err != nil {
				return pred{}, err
			}
			return pred{l: l, op: "ISNOTNULL"}, nil
		}
		if err := p.expectKw("NULL"); err != nil {
			return pred{}, err
		}
		return pred{l: l, op: "ISNULL"}, nil
	}
	t := p.peek()
	if t.kind != tkPunct {
		return pred{}, p.near(t)
	}
	op := t.text
	switch op {
	case "=", "<>", "!=", "<", "<=", ">", ">=":
	default:
		return pred{}, p.near(t)
	}
	p.i++
	if op == "!=" {
		op = "<>"
	}
	r, err := p.expr()
	if err != nil {
		return pred{}, err
	}
	return pred{l: l, r: r, op: op}, nil
}

// ---- INSERT ----

func (p *parser) insertStmt() (stmt, *sqlError) {
	p.i++
	p.acceptKw("INTO")
	o, err := p.objName()
	if err != nil {
		return nil, err
	}
	s := &insertStmt{table: o}
	if p.acceptPunct("(") {
		for {
			c, err := p.ident()
			if err != nil {
				return nil, err
			}
			s.cols = append(s.cols, c)
			if !p.acceptPunct(",") {
				break
			}
		}
		if err := p.expectPunct(")"); err != nil {
			return nil, err
		}
	}
	if !p.acceptKw("VALUES") {
		return nil, p.notUnderstood()
	}
	for {
		if err := p.expectPunct("("); err != nil {
			return nil, err
		}
		var row []expr
		for {
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			row = append(row, e)
			if !p.acceptPunct(",") {
				break
			}
		}
		if err := p.expectPunct(")"); err != nil {
			return nil, err
		}
		s.rows = append(s.rows, row)
		if !p.acceptPunct(",") {
			break
		}
	}
	return s, nil
}

// ---- BACKUP / RESTORE ----

func (p *parser) device() (device, *sqlError) {
	t := p.peek()
	if t.kind != tkIdent {
		return device{}, p.near(t)
	}
	k := strings.ToUpper(t.text)
	if k != "DISK" && k != "URL" {
		if k == "TAPE" {
			return device{}, errUnsupported("TAPE backup devices are not supported")
		}
		return device{}, errUnsupported("logical backup devices are not supported (use DISK = or URL =)")
	}
	p.i++
	if err := p.expectPunct("="); err != nil {
		return device{}, err
	}
	e, err := p.expr()
	if err != nil {
		return device{}, err
	}
	d := device{kind: k, path: e}
	for p.isPunct(p.peek(), ",") && (p.isKw(p.peekAt(1), "DISK") || p.isKw(p.peekAt(1), "URL")) {
		if k != "URL" || !p.isKw(p.peekAt(1), "URL") {
			return device{}, errUnsupported("striped backups are supported only across URL devices")
		}
		p.i += 2
		if err := p.expectPunct("="); err != nil {
			return device{}, err
		}
		e, err := p.expr()
		if err != nil {
			return device{}, err
		}
		d.more = append(d.more, e)
	}
	return d, nil
}

func (p *parser) options() ([]option, *sqlError) {
	var out []option
	if !p.acceptKw("WITH") {
		return nil, nil
	}
	for {
		t := p.peek()
		if t.kind != tkIdent {
			return nil, p.near(t)
		}
		p.i++
		o := option{name: strings.ToUpper(t.text)}
		switch {
		case o.name == "MOVE":
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			if err := p.expectKw("TO"); err != nil {
				return nil, err
			}
			to, err := p.expr()
			if err != nil {
				return nil, err
			}
			o.val, o.to = e, to
		case p.acceptPunct("="):
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			o.val = e
		case o.name == "COMPRESSION" && p.isPunct(p.peek(), "("):
			// COMPRESSION (ALGORITHM = MS_XPRESS | QAT_DEFLATE | ZSTD)
			p.i++
			if err := p.expectKw("ALGORITHM"); err != nil {
				return nil, err
			}
			if err := p.expectPunct("="); err != nil {
				return nil, err
			}
			if p.peek().kind != tkIdent {
				return nil, p.near(p.peek())
			}
			p.i++
			if err := p.expectPunct(")"); err != nil {
				return nil, err
			}
		}
		out = append(out, o)
		if !p.acceptPunct(",") {
			return out, nil
		}
	}
}

func (p *parser) backupStmt() (stmt, *sqlError) {
	p.i++
	s := &backupStmt{}
	switch {
	case p.acceptKw("DATABASE"):
	case p.acceptKw("LOG"):
		s.log = true
	default:
		return nil, p.notUnderstood()
	}
	n, err := p.nameArg()
	if err != nil {
		return nil, err
	}
	s.db = n
	if p.isKw(p.peek(), "FILE") || p.isKw(p.peek(), "FILEGROUP") || p.isKw(p.peek(), "READ_WRITE_FILEGROUPS") {
		return nil, errUnsupported("file and filegroup backups are not supported")
	}
	if err := p.expectKw("TO"); err != nil {
		return nil, err
	}
	d, err := p.device()
	if err != nil {
		return nil, err
	}
	s.device = d
	if p.isKw(p.peek(), "MIRROR") {
		return nil, errUnsupported("mirrored backups are not supported")
	}
	opts, err := p.options()
	if err != nil {
		return nil, err
	}
	s.opts = opts
	return s, nil
}

func (p *parser) restoreStmt() (stmt, *sqlError) {
	p.i++
	s := &restoreStmt{}
	t := p.next()
	s.what = strings.ToUpper(t.text)
	if t.kind != tkIdent {
		return nil, p.near(t)
	}
	switch s.what {
	case "HEADERONLY", "FILELISTONLY", "VERIFYONLY", "LABELONLY":
		if err := p.expectKw("FROM"); err != nil {
			return nil, err
		}
		d, err := p.device()
		if err != nil {
			return nil, err
		}
		s.device = &d
	case "DATABASE", "LOG":
		n, err := p.nameArg()
		if err != nil {
			return nil, err
		}
		s.db = n
		if p.isKw(p.peek(), "FILE") || p.isKw(p.peek(), "FILEGROUP") || p.isKw(p.peek(), "PAGE") {
			return nil, errUnsupported("file, filegroup and page restores are not supported")
		}
		if p.acceptKw("FROM") {
			d, err := p.device()
			if err != nil {
				return nil, err
			}
			s.device = &d
		}
	case "REWINDONLY", "FILELIST", "HEADER":
		return nil, errUnsupported("RESTORE %s is not supported", s.what)
	default:
		return nil, p.near(t)
	}
	opts, err := p.options()
	if err != nil {
		return nil, err
	}
	s.opts = opts
	return s, nil
}

// dbccStmt parses DBCC CHECKDB with a database named (by identifier,
// string or variable) and only the options that change what is reported;
// repair options, NOINDEX, PHYSICAL_ONLY and the others are refused.
func (p *parser) dbccStmt() (stmt, *sqlError) {
	p.i++
	if !p.acceptKw("CHECKDB") {
		return nil, errUnsupported("only DBCC CHECKDB is supported")
	}
	s := &checkDBStmt{}
	if err := p.expectPunct("("); err != nil {
		return nil, err
	}
	t := p.peek()
	switch {
	case p.isIdent(t):
		name, err := p.ident()
		if err != nil {
			return nil, err
		}
		s.db = &litExpr{v: strVal(name)}
	default:
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		s.db = e
	}
	if p.isPunct(p.peek(), ",") {
		return nil, errUnsupported("DBCC CHECKDB with NOINDEX or a repair option is not supported")
	}
	if err := p.expectPunct(")"); err != nil {
		return nil, err
	}
	if !p.acceptKw("WITH") {
		return s, nil
	}
	for {
		t := p.next()
		name := strings.ToUpper(t.text)
		switch {
		case t.kind != tkIdent:
			return nil, p.near(t)
		case name == "NO_INFOMSGS" || name == "ALL_ERRORMSGS":
			s.opts = append(s.opts, name)
		case name == "PHYSICAL_ONLY" || name == "DATA_PURITY" || name == "EXTENDED_LOGICAL_CHECKS" || name == "TABLOCK" || name == "ESTIMATEONLY" || name == "MAXDOP":
			return nil, errUnsupported("DBCC CHECKDB WITH %s is not supported", name)
		default:
			return nil, p.near(t)
		}
		if !p.acceptPunct(",") {
			return s, nil
		}
	}
}
