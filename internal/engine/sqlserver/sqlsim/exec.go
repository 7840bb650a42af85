package sqlsim

import (
	"math/big"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

var day2003 = time.Date(2003, 4, 8, 9, 13, 36, 390_000_000, time.UTC)

func numVal(n int64) value { return value{t: tNum20, v: big.NewInt(n)} }

func (srv *Server) dataPath(file string) string {
	return filepath.Join(srv.opts.DataDir, "data", file)
}

func (x *execCtx) exec(st stmt) (result, *sqlError) {
	switch s := st.(type) {
	case *selectStmt:
		return x.execSelect(s)
	case *useStmt:
		return x.execUse(s)
	case *createDBStmt:
		return x.execCreateDB(s)
	case *dropDBStmt:
		return x.execDropDB(s)
	case *alterRecoveryStmt:
		return x.execAlterRecovery(s)
	case *alterFileStmt:
		return x.execAlterFile(s)
	case *insertStmt:
		return x.execInsert(s)
	case *backupStmt:
		return x.execBackup(s)
	case *restoreStmt:
		return x.execRestore(s)
	case *checkDBStmt:
		return x.execCheckDB(s)
	case *createCredentialStmt:
		return x.execCreateCredential(s)
	case *dropCredentialStmt:
		return x.execDropCredential(s)
	case *killStmt:
		return x.execKill(s)
	case *alterAccessStmt:
		return x.execAlterAccess(s)
	case *tranStmt:
		return x.execTran(s)
	case *waitforStmt:
		return x.execWaitfor(s)
	case *setStmt:
		if s.option == "NOCOUNT" {
			x.s.nocount = s.on
		}
		return result{}, nil
	}
	return result{}, errUnsupported("internal: unknown statement %T", st)
}

// ---- expressions ----

// binding is one column visible to expressions.
type binding struct {
	qual string
	name string
	col  column
}

type scope struct {
	binds []binding
	row   []value
	// outputs lets ORDER BY name a select-list alias.
	outNames []string
	outRow   []value
}

func (sc *scope) lookup(c *colExpr) (int, *sqlError) {
	found := -1
	for i, b := range sc.binds {
		if !strings.EqualFold(b.name, c.name) {
			continue
		}
		if c.qual != "" && !strings.EqualFold(b.qual, c.qual) {
			continue
		}
		if found >= 0 {
			return -1, errAmbiguousColumn(c.name)
		}
		found = i
	}
	if found < 0 {
		if c.qual != "" {
			return -1, newErr(4104, 16, "The multi-part identifier \"%s.%s\" could not be bound.", c.qual, c.name)
		}
		return -1, errInvalidColumn(c.name)
	}
	return found, nil
}

func (x *execCtx) param(name string) (value, *sqlError) {
	v, ok := x.params[strings.ToLower(name)]
	if !ok {
		return value{}, errMustDeclare(name)
	}
	return v, nil
}

func isAggregate(e expr) bool {
	f, ok := e.(*funcExpr)
	return ok && (f.name == "COUNT" || f.name == "MAX" || f.name == "MIN" || f.name == "COUNT_BIG")
}

// typeOf gives an expression's static type (for COLMETADATA when no rows).
func (x *execCtx) typeOf(e expr, sc *scope) (sqlType, bool, *sqlError) {
	switch e := e.(type) {
	case *litExpr:
		return e.v.t, e.v.isNull(), nil
	case *paramExpr:
		v, err := x.param(e.name)
		if err != nil {
			return sqlType{}, false, err
		}
		t := v.t
		if t.k == kNull {
			t = tNVarChar(1)
		}
		return t, true, nil
	case *sysVarExpr:
		v, err := x.sysVar(e.name)
		return v.t, false, err
	case *colExpr:
		i, err := sc.lookup(e)
		if err != nil {
			return sqlType{}, false, err
		}
		return sc.binds[i].col.t, sc.binds[i].col.nullable, nil
	case *funcExpr:
		switch e.name {
		case "COUNT":
			return tInt, false, nil
		case "COUNT_BIG":
			return tBigInt, false, nil
		case "MAX", "MIN":
			if len(e.args) != 1 {
				return sqlType{}, false, newErr(174, 15, "The %s function requires 1 argument(s).", strings.ToLower(e.name))
			}
			t, _, err := x.typeOf(e.args[0], sc)
			return t, true, err
		case "DB_ID":
			return tInt, true, nil
		case "DB_NAME":
			return tNVarChar(128), true, nil
		case "SERVERPROPERTY":
			return tVariant, true, nil
		case "GETDATE", "GETUTCDATE":
			return tDateTime, false, nil
		case "SYSUTCDATETIME", "SYSDATETIME":
			return sqlType{k: kDateTime2, scale: 7}, false, nil
		case "HAS_PERMS_BY_NAME", "IS_SRVROLEMEMBER": // perms.go
			return tInt, true, nil
		}
		return sqlType{}, false, newErr(195, 15, "'%s' is not a recognized built-in function name.", e.name)
	}
	return sqlType{}, false, errSyntax("?")
}

func (x *execCtx) sysVar(name string) (value, *sqlError) {
	srv := x.s.srv
	switch name {
	case "@@SPID":
		return value{t: tSmallInt, v: int64(x.s.spid)}, nil
	case "@@VERSION":
		return value{t: tNVarChar(300), v: versionString}, nil
	case "@@SERVERNAME":
		return value{t: tSysname, v: srv.opts.Name}, nil
	case "@@SERVICENAME":
		return value{t: tSysname, v: "MSSQLSERVER"}, nil
	case "@@TRANCOUNT":
		return intVal(0), nil
	}
	return value{}, errMustDeclare(name)
}

// evalLocked evaluates an expression outside any row scope, taking srv.mu
// (DB_ID() and friends read the server's state).
func (x *execCtx) evalLocked(e expr) (value, *sqlError) {
	x.s.srv.mu.Lock()
	defer x.s.srv.mu.Unlock()
	return x.eval(e, nil)
}

// eval evaluates an expression; callers hold srv.mu.
func (x *execCtx) eval(e expr, sc *scope) (value, *sqlError) {
	switch e := e.(type) {
	case *litExpr:
		return e.v, nil
	case *paramExpr:
		return x.param(e.name)
	case *sysVarExpr:
		return x.sysVar(e.name)
	case *colExpr:
		if sc == nil {
			return value{}, errInvalidColumn(e.name)
		}
		if e.qual == "" && sc.outRow != nil {
			for i, n := range sc.outNames {
				if n != "" && strings.EqualFold(n, e.name) {
					return sc.outRow[i], nil
				}
			}
		}
		i, err := sc.lookup(e)
		if err != nil {
			return value{}, err
		}
		v := sc.row[i]
		if v.isNull() {
			return null(sc.binds[i].col.t), nil
		}
		return value{t: sc.binds[i].col.t, v: v.v}, nil
	case *funcExpr:
		return x.evalFunc(e, sc)
	}
	return value{}, errSyntax("?")
}

func (x *execCtx) evalFunc(f *funcExpr, sc *scope) (value, *sqlError) {
	srv := x.s.srv
	args := make([]value, len(f.args))
	for i, a := range f.args {
		v, err := x.eval(a, sc)
		if err != nil {
			return value{}, err
		}
		args[i] = v
	}
	switch f.name {
	case "DB_ID":
		name := x.s.curDB
		if len(args) > 1 {
			return value{}, newErr(189, 15, "The db_id function requires 0 to 1 arguments.")
		}
		if len(args) == 1 {
			if args[0].isNull() {
				return null(tInt), nil
			}
			name = toString(args[0])
		}
		if _, id, ok := systemDB(name); ok {
			return intVal(int64(id)), nil
		}
		if d := srv.st.db(name); d != nil {
			return intVal(int64(d.ID)), nil
		}
		return null(tInt), nil
	case "DB_NAME":
		if len(args) == 0 {
			return value{t: tNVarChar(128), v: x.s.curDB}, nil
		}
		if args[0].isNull() {
			return null(tNVarChar(128)), nil
		}
		id := toInt64(args[0])
		for _, s := range systemDBs {
			if int64(s.id) == id {
				return value{t: tNVarChar(128), v: s.name}, nil
			}
		}
		if d := srv.st.dbByID(int(id)); d != nil {
			return value{t: tNVarChar(128), v: d.Name}, nil
		}
		return null(tNVarChar(128)), nil
	case "SERVERPROPERTY":
		if len(args) != 1 {
			return value{}, newErr(174, 15, "The serverproperty function requires 1 argument(s).")
		}
		var s string
		switch strings.ToLower(toString(args[0])) {
		case "productversion":
			s = productVersion
			if srv.opts.MajorVersion == 15 {
				s = "15.0.4355.3"
			}
		case "productlevel":
			s = productLevel
		case "productmajorversion":
			s = strconv.Itoa(srv.opts.MajorVersion)
		case "productminorversion":
			s = "0"
		case "productbuild":
			s = "4135"
		case "edition":
			s = "Developer Edition (64-bit)"
		case "engineedition":
			s = "3"
		case "servername", "machinename":
			s = srv.opts.Name
		case "instancename":
			return null(tVariant), nil
		case "collation":
			s = "SQL_Latin1_General_CP1_CI_AS"
		case "ishadrenabled", "isclustered", "issingleuser":
			s = "0"
		case "instancedefaultdatapath", "instancedefaultlogpath":
			// Where CREATE DATABASE puts files, with the trailing
			// separator SQL Server's answer has.
			s = srv.dataPath("") + string(filepath.Separator)
		default:
			return null(tVariant), nil
		}
		return value{t: tVariant, v: s}, nil
	case "GETDATE":
		return timeVal(srv.now()), nil
	case "GETUTCDATE":
		return timeVal(roundDateTime(srv.clock())), nil
	case "SYSDATETIME":
		return value{t: sqlType{k: kDateTime2, scale: 7}, v: srv.local(srv.clock())}, nil
	case "SYSUTCDATETIME":
		return value{t: sqlType{k: kDateTime2, scale: 7}, v: srv.clock().UTC()}, nil
	case "HAS_PERMS_BY_NAME":
		return x.hasPermsByName(args)
	case "IS_SRVROLEMEMBER":
		return x.isSrvRoleMember(args)
	}
	return value{}, newErr(195, 15, "'%s' is not a recognized built-in function name.", f.name)
}

// test evaluates a conjunction of predicates (NULL comparisons are false).
func (x *execCtx) test(preds []pred, sc *scope) (bool, *sqlError) {
	for _, p := range preds {
		if p.nested != nil {
			ok, err := x.test(p.nested, sc)
			if err != nil || !ok {
				return false, err
			}
			continue
		}
		l, err := x.eval(p.l, sc)
		if err != nil {
			return false, err
		}
		switch p.op {
		case "ISNULL":
			if !l.isNull() {
				return false, nil
			}
			continue
		case "ISNOTNULL":
			if l.isNull() {
				return false, nil
			}
			continue
		}
		r, err := x.eval(p.r, sc)
		if err != nil {
			return false, err
		}
		c, ok, cerr := compare(l, r)
		if cerr != nil {
			return false, cerr
		}
		if !ok {
			return false, nil
		}
		var t bool
		switch p.op {
		case "=":
			t = c == 0
		case "<>":
			t = c != 0
		case "<":
			t = c < 0
		case "<=":
			t = c <= 0
		case ">":
			t = c > 0
		case ">=":
			t = c >= 0
		}
		if !t {
			return false, nil
		}
	}
	return true, nil
}

// ---- SELECT ----

// joinSources binds the FROM sources and joins them (nested loops). With
// early, WHERE's leading conjuncts are applied as soon as the sources they
// name are bound, so that rows WHERE rejects are not joined: a SELECT over
// msdb's history by one database does not build the product of every
// database's history first. The full WHERE is still tested on every joined
// row (selectRows); a leading conjunct drops a row only when it is false,
// as the full test would find it, its predecessors having held. An error
// in an early test makes retry true: the caller joins again without early
// tests, so that errors are those of the plain join.
// One difference remains: ON is no longer evaluated on rows WHERE rejects,
// so an ON that fails to evaluate there (a conversion) is no error; SQL
// Server does not promise an order of evaluation either.
func (x *execCtx) joinSources(s *selectStmt, early bool) (sc *scope, rows [][]value, retry bool, err *sqlError) {
	sc = &scope{}
	if len(s.from) == 0 {
		rows = [][]value{{}}
	}
	applied := 0 // leading WHERE conjuncts applied so far
	for i, fi := range s.from {
		rel, err := x.resolveTable(fi.obj)
		if err != nil {
			return nil, nil, false, err
		}
		qual := fi.alias
		if qual == "" {
			qual = fi.obj.last()
		}
		for _, b := range sc.binds {
			if strings.EqualFold(b.qual, qual) {
				return nil, nil, false, newErr(1011, 16, "The correlation name '%s' is specified multiple times in a FROM clause.", qual)
			}
		}
		for _, c := range rel.cols {
			sc.binds = append(sc.binds, binding{qual: qual, name: c.name, col: c})
		}
		if i == 0 {
			rows = rel.rows
		} else {
			var joined [][]value
			var combo []value
			for _, l := range rows {
				for _, r := range rel.rows {
					combo = append(append(combo[:0], l...), r...)
					sc.row = combo
					ok, err := x.test(fi.on, sc)
					if err != nil {
						return nil, nil, false, err
					}
					if ok {
						joined = append(joined, append([]value(nil), combo...))
					}
				}
			}
			rows = joined
			if len(rows) == 0 {
				// still check the ON clause's names against the bindings
				if _, err := x.checkPreds(fi.on, sc); err != nil {
					return nil, nil, false, err
				}
			}
		}
		if !early || i == len(s.from)-1 {
			continue
		}
		// The leading conjuncts whose names all resolve among the sources
		// bound so far (a name that a later source makes ambiguous fails
		// the full WHERE's check in any case).
		n := applied
		for n < len(s.where) {
			if _, err := x.checkPreds(s.where[n:n+1], sc); err != nil {
				break
			}
			n++
		}
		if n == applied {
			continue
		}
		var kept [][]value
		for _, r := range rows {
			sc.row = r
			ok, err := x.test(s.where[applied:n], sc)
			if err != nil {
				return nil, nil, true, nil
			}
			if ok {
				kept = append(kept, r)
			}
		}
		rows, applied = kept, n
	}
	return sc, rows, false, nil
}

func (x *execCtx) execSelect(s *selectStmt) (result, *sqlError) {
	srv := x.s.srv
	srv.mu.Lock()
	cols, rows, err := x.selectRows(s)
	srv.mu.Unlock()
	if err != nil {
		return result{}, err
	}
	if err := x.emitResult(cols, rows); err != nil {
		return result{}, err
	}
	return result{cmd: cmdSelect, count: true, rows: uint64(len(rows))}, nil
}

func (x *execCtx) selectRows(s *selectStmt) ([]column, [][]value, *sqlError) {
	// Sources and joins.
	sc, rows, retry, err := x.joinSources(s, true)
	if retry {
		sc, rows, _, err = x.joinSources(s, false)
	}
	if err != nil {
		return nil, nil, err
	}
	// WHERE
	if _, err := x.checkPreds(s.where, sc); err != nil {
		return nil, nil, err
	}
	var kept [][]value
	for _, r := range rows {
		sc.row = r
		ok, err := x.test(s.where, sc)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			kept = append(kept, r)
		}
	}
	rows = kept

	// Select list.
	type outItem struct {
		e    expr
		name string
		col  column
		src  int // for *: index into bindings; -1 otherwise
	}
	var items []outItem
	agg := false
	for _, it := range s.items {
		if it.star {
			if len(s.from) == 0 {
				return nil, nil, newErr(263, 16, "Must specify table to select from.")
			}
			for i, b := range sc.binds {
				items = append(items, outItem{name: b.name, col: column{name: b.name, t: b.col.t, nullable: b.col.nullable}, src: i})
			}
			continue
		}
		t, nullable, err := x.typeOf(it.e, sc)
		if err != nil {
			return nil, nil, err
		}
		if t.k == kNull {
			t = tInt
		}
		name := it.alias
		if name == "" {
			if c, ok := it.e.(*colExpr); ok {
				name = c.name
			}
		}
		if isAggregate(it.e) {
			agg = true
		}
		items = append(items, outItem{e: it.e, name: name, col: column{name: name, t: t, nullable: nullable}, src: -1})
	}
	cols := make([]column, len(items))
	names := make([]string, len(items))
	for i, it := range items {
		cols[i] = it.col
		names[i] = it.name
	}

	if agg {
		out := make([]value, len(items))
		for i, it := range items {
			if it.src >= 0 || !isAggregate(it.e) {
				if _, ok := it.e.(*colExpr); ok || it.src >= 0 {
					return nil, nil, newErr(8120, 16, "Column '%s' is invalid in the select list because it is not contained in either an aggregate function or the GROUP BY clause.", it.name)
				}
				v, err := x.eval(it.e, sc)
				if err != nil {
					return nil, nil, err
				}
				out[i] = v
				continue
			}
			f := it.e.(*funcExpr)
			switch f.name {
			case "COUNT", "COUNT_BIG":
				n := int64(0)
				for _, r := range rows {
					sc.row = r
					if f.star {
						n++
						continue
					}
					v, err := x.eval(f.args[0], sc)
					if err != nil {
						return nil, nil, err
					}
					if !v.isNull() {
						n++
					}
				}
				out[i] = value{t: it.col.t, v: n}
			default: // MAX, MIN
				best := null(it.col.t)
				for _, r := range rows {
					sc.row = r
					v, err := x.eval(f.args[0], sc)
					if err != nil {
						return nil, nil, err
					}
					if v.isNull() {
						continue
					}
					if best.isNull() {
						best = v
						continue
					}
					c, _, err := compare(v, best)
					if err != nil {
						return nil, nil, err
					}
					if (f.name == "MAX" && c > 0) || (f.name == "MIN" && c < 0) {
						best = v
					}
				}
				out[i] = best
			}
		}
		return cols, [][]value{out}, nil
	}

	type outRow struct {
		src []value
		out []value
	}
	var outRows []outRow
	for _, r := range rows {
		sc.row = r
		out := make([]value, len(items))
		for i, it := range items {
			if it.src >= 0 {
				out[i] = r[it.src]
				continue
			}
			v, err := x.eval(it.e, sc)
			if err != nil {
				return nil, nil, err
			}
			out[i] = v
		}
		outRows = append(outRows, outRow{src: r, out: out})
	}

	// ORDER BY
	if len(s.order) > 0 {
		keys := make([][]value, len(outRows))
		for i, o := range outRows {
			sc.row, sc.outRow, sc.outNames = o.src, o.out, names
			for _, oi := range s.order {
				if lit, ok := oi.e.(*litExpr); ok {
					// ORDER BY 1: a select-list position
					n := toInt64(lit.v)
					if n < 1 || int(n) > len(items) {
						return nil, nil, newErr(108, 16, "The ORDER BY position number %d is out of range of the number of items in the select list.", n)
					}
					keys[i] = append(keys[i], o.out[n-1])
					continue
				}
				v, err := x.eval(oi.e, sc)
				if err != nil {
					return nil, nil, err
				}
				keys[i] = append(keys[i], v)
			}
		}
		if len(outRows) == 0 {
			sc.outRow, sc.outNames = nil, nil
			for _, oi := range s.order {
				if c, ok := oi.e.(*colExpr); ok {
					aliased := false
					for _, n := range names {
						if c.qual == "" && strings.EqualFold(n, c.name) {
							aliased = true
						}
					}
					if !aliased {
						if _, err := sc.lookup(c); err != nil {
							return nil, nil, err
						}
					}
				}
			}
		}
		idx := make([]int, len(outRows))
		for i := range idx {
			idx[i] = i
		}
		var serr *sqlError
		sort.SliceStable(idx, func(a, b int) bool {
			ka, kb := keys[idx[a]], keys[idx[b]]
			for j, oi := range s.order {
				va, vb := ka[j], kb[j]
				var c int
				switch {
				case va.isNull() && vb.isNull():
					c = 0
				case va.isNull():
					c = -1
				case vb.isNull():
					c = 1
				default:
					var err *sqlError
					c, _, err = compare(va, vb)
					if err != nil && serr == nil {
						serr = err
					}
				}
				if oi.desc {
					c = -c
				}
				if c != 0 {
					return c < 0
				}
			}
			return false
		})
		if serr != nil {
			return nil, nil, serr
		}
		sorted := make([]outRow, len(outRows))
		for i, j := range idx {
			sorted[i] = outRows[j]
		}
		outRows = sorted
	}
	if s.top != nil {
		v, err := x.eval(s.top, nil)
		if err != nil {
			return nil, nil, err
		}
		n := toInt64(v)
		if n < 0 {
			return nil, nil, newErr(1060, 16, "The number of rows in the TOP clause must be an integer.")
		}
		if int64(len(outRows)) > n {
			outRows = outRows[:n]
		}
	}
	result := make([][]value, len(outRows))
	for i, o := range outRows {
		result[i] = o.out
	}
	return cols, result, nil
}

// checkPreds validates column names in predicates even when no row is tested.
func (x *execCtx) checkPreds(preds []pred, sc *scope) (bool, *sqlError) {
	for _, p := range preds {
		if p.nested != nil {
			if _, err := x.checkPreds(p.nested, sc); err != nil {
				return false, err
			}
			continue
		}
		for _, e := range []expr{p.l, p.r} {
			if e == nil {
				continue
			}
			if _, _, err := x.typeOf(e, sc); err != nil {
				return false, err
			}
		}
	}
	return true, nil
}

// ---- USE, CREATE, DROP, ALTER ----

func (x *execCtx) execUse(s *useStmt) (result, *sqlError) {
	srv := x.s.srv
	srv.mu.Lock()
	name, err := srv.openableDB(s.db)
	if d := srv.st.db(name); err == nil && d != nil && !sameName(x.s.curDB, name) {
		err = srv.admitLocked(x.s, d)
	}
	old := x.s.curDB
	if err == nil {
		x.s.curDB = name
	}
	srv.mu.Unlock()
	if err != nil {
		return result{}, err
	}
	x.s.out.write(envChangeToken(1, name, old))
	x.emitInfo(info(5701, 0, "Changed database context to '%s'.", name))
	return result{}, nil
}

func (x *execCtx) nameArg(n nameArg) (string, *sqlError) {
	if n.param == "" {
		return n.ident, nil
	}
	v, err := x.param(n.param)
	if err != nil {
		return "", err
	}
	if v.isNull() || !isStringKind(v.t.k) {
		return "", newErr(214, 16, "The database name must be a character string: %s is %s.", n.param, v.t)
	}
	return toString(v), nil
}

func (x *execCtx) execCreateDB(s *createDBStmt) (result, *sqlError) {
	name, err := x.nameArg(s.name)
	if err != nil {
		return result{}, err
	}
	if name == "" {
		return result{}, newErr(1038, 15, "An object or column name is missing or empty.")
	}
	if utf16Len(name) > 128 { // sysname: nvarchar(128), UTF-16 code units
		return result{}, newErr(103, 15, "The identifier that starts with '%s' is too long. Maximum length is 128.", truncUTF16(name, 128))
	}
	if n := utf16Len(name); n > 123 {
		// "If a logical log file name isn't specified, SQL Server generates
		// the logical_file_name and the os_file_name for the log by
		// appending a suffix to database_name. This limits database_name to
		// 123 characters" (CREATE DATABASE); its error is not modelled.
		return result{}, errUnsupported("database name %q is %d UTF-16 code units; without a logical log file name it may have 123", name, n)
	}
	if !x.s.who.canCreateDatabase() {
		return result{}, errPermDenied("CREATE DATABASE", "master")
	}
	srv := x.s.srv
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if _, _, ok := systemDB(name); ok || srv.st.db(name) != nil {
		return result{}, errDBExists(name)
	}
	now := srv.now()
	d := &database{
		Name:       name,
		ID:         srv.st.NextDatabaseID,
		Owner:      x.s.who.ownerName(),
		State:      "ONLINE",
		Recovery:   "FULL",
		CreateDate: now,
		GUID:       newGUID(),
		FamilyGUID: newGUID(),
		Files: []dbFile{
			{Logical: name, Physical: srv.dataPath(name + ".mdf"), Type: "D", FileID: 1, FileGroup: "PRIMARY", Size: 8 << 20},
			{Logical: name + "_log", Physical: srv.dataPath(name + "_log.ldf"), Type: "L", FileID: 2, Size: 8 << 20},
		},
		NextLSN: srv.lsnBase,
	}
	srv.st.NextDatabaseID++
	// The creation writes the first log records: the initial checkpoint.
	d.Forks = []fork{{ID: newGUID(), StartLSN: d.NextLSN}}
	d.Checkpoint = d.takeLSN()
	srv.st.Databases = append(srv.st.Databases, d)
	srv.persist()
	srv.logf("sqlsim: created database %q (id %d)", name, d.ID)
	return result{}, nil
}

// othersUsing lists the other sessions using database name (see
// usersOfLocked).
// Callers hold srv.mu.
func (x *execCtx) othersUsing(name string) []int {
	var ids []int
	for _, ss := range x.s.srv.usersOfLocked(name, x.s) {
		ids = append(ids, ss.spid)
	}
	sort.Ints(ids)
	return ids
}

func (x *execCtx) execDropDB(s *dropDBStmt) (result, *sqlError) {
	srv := x.s.srv
	for _, n := range s.names {
		name, err := x.nameArg(n)
		if err != nil {
			return result{}, err
		}
		srv.mu.Lock()
		if _, _, ok := systemDB(name); ok {
			srv.mu.Unlock()
			return result{}, newErr(3708, 16, "Cannot drop the database '%s' because it is a system database.", name)
		}
		d := srv.st.db(name)
		if d != nil && !x.s.who.canAlter(d.Name) {
			srv.mu.Unlock()
			return result{}, errCannotDrop(name)
		}
		if d == nil {
			srv.mu.Unlock()
			if s.ifExists {
				continue
			}
			return result{}, errCannotDrop(name)
		}
		if strings.EqualFold(x.s.curDB, d.Name) || len(x.othersUsing(d.Name)) > 0 {
			srv.mu.Unlock()
			return result{}, errDropInUse(d.Name)
		}
		srv.st.removeDB(d)
		srv.dropped = append(srv.dropped, DroppedDatabase{Name: d.Name, State: describeState(d), Rows: rowIDs(d.Rows)})
		srv.persist()
		srv.mu.Unlock()
		srv.logf("sqlsim: dropped database %q", d.Name)
	}
	return result{}, nil
}

func (x *execCtx) execAlterRecovery(s *alterRecoveryStmt) (result, *sqlError) {
	name, err := x.nameArg(s.name)
	if err != nil {
		return result{}, err
	}
	srv := x.s.srv
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if _, _, ok := systemDB(name); ok {
		return result{}, errSystemDB("ALTER DATABASE", name)
	}
	d := srv.st.db(name)
	if d == nil || !x.s.who.canAlter(d.Name) {
		return result{}, newErr(5011, 14, "User does not have permission to alter database '%s', the database does not exist, or the database is not in a state that allows access checks.", name).
			then(newErr(5069, 16, "ALTER DATABASE statement failed."))
	}
	if d.State == "RESTORING" {
		return result{}, errDBRestoring(d.Name).then(newErr(5069, 16, "ALTER DATABASE statement failed."))
	}
	if d.Standby || d.ReadOnly {
		return result{}, errWarmStandby(d.Name).then(newErr(5069, 16, "ALTER DATABASE statement failed."))
	}
	if d.Recovery == s.model {
		return result{}, nil
	}
	d.takeLSN()
	if s.model == "SIMPLE" {
		// The log chain is broken: the log is truncated at checkpoints.
		d.ChainLSN = ""
		d.trimLog()
	}
	d.Recovery = s.model
	srv.persist()
	return result{}, nil
}

// ---- INSERT ----

func (x *execCtx) execInsert(s *insertStmt) (result, *sqlError) {
	parts := s.table.parts
	if !strings.EqualFold(s.table.last(), "drs_probe") || len(parts) > 3 || (len(parts) >= 2 && parts[len(parts)-2] != "" && !strings.EqualFold(parts[len(parts)-2], "dbo")) {
		return result{}, errInvalidObject(s.table.text)
	}
	cols := s.cols
	if len(cols) == 0 {
		cols = []string{"id", "note"}
	}
	idIdx, noteIdx := -1, -1
	for i, c := range cols {
		switch strings.ToLower(c) {
		case "id":
			if idIdx >= 0 {
				return result{}, newErr(264, 16, "The column name 'id' is specified more than once in the SET clause or column list of an INSERT.")
			}
			idIdx = i
		case "note":
			if noteIdx >= 0 {
				return result{}, newErr(264, 16, "The column name 'note' is specified more than once in the SET clause or column list of an INSERT.")
			}
			noteIdx = i
		default:
			return result{}, errInvalidColumn(c)
		}
	}
	// Evaluate values before touching the database.
	var newRows []row
	for _, vals := range s.rows {
		if len(vals) != len(cols) {
			if len(vals) > len(cols) {
				return result{}, errInsertColumnCount()
			}
			return result{}, newErr(109, 15, "There are more columns in the INSERT statement than values specified in the VALUES clause. The number of values in the VALUES clause must match the number of columns specified in the INSERT statement.")
		}
		var r row
		if idIdx >= 0 {
			v, err := x.evalLocked(vals[idIdx])
			if err != nil {
				return result{}, err
			}
			if v.isNull() {
				return result{}, errNullInsert("id", "drs_probe")
			}
			n, cerr := toIntStrict(v)
			if cerr != nil {
				return result{}, cerr
			}
			r.ID = n
		} else {
			return result{}, errNullInsert("id", "drs_probe")
		}
		if noteIdx >= 0 {
			v, err := x.evalLocked(vals[noteIdx])
			if err != nil {
				return result{}, err
			}
			if !v.isNull() {
				s := toString(v)
				if utf16Len(s) > 200 { // nvarchar(200): UTF-16 code units
					return result{}, errTruncation("drs_probe", "note", truncUTF16(s, 200))
				}
				r.Note = &s
			}
		}
		newRows = append(newRows, r)
	}
	srv := x.s.srv
	srv.mu.Lock()
	defer srv.mu.Unlock()
	dbn := x.s.curDB
	if len(parts) == 3 {
		dbn = parts[0]
	}
	if _, _, ok := systemDB(dbn); ok {
		return result{}, errInvalidObject(s.table.text)
	}
	d := srv.st.db(dbn)
	if d == nil {
		return result{}, errInvalidObject(s.table.text)
	}
	if d.State == "RESTORING" {
		return result{}, errDBRestoring(d.Name)
	}
	if d.ReadOnly || d.Standby {
		return result{}, errReadOnly(d.Name)
	}
	for _, r := range newRows {
		r.LSN = d.takeLSN()
		d.Rows = append(d.Rows, r)
		if d.ChainLSN != "" {
			d.Log = append(d.Log, logRec{LSN: r.LSN, Row: r, Time: srv.now()})
		}
	}
	srv.persist()
	return result{cmd: cmdInsert, count: true, rows: uint64(len(newRows))}, nil
}

// toIntStrict converts to an int column value as SQL Server would.
func toIntStrict(v value) (int64, *sqlError) {
	switch x := v.v.(type) {
	case int64:
		if x < -2147483648 || x > 2147483647 {
			return 0, errOverflow("int")
		}
		return x, nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 32)
		if err != nil {
			return 0, errConversion(x, v.t.String(), "int")
		}
		return n, nil
	case *big.Int, float64:
		r, _ := v.toRat()
		f, _ := r.Float64()
		if f < -2147483648 || f > 2147483647 {
			return 0, errOverflow("int")
		}
		return int64(f), nil
	}
	return 0, errConversion(v.display(), v.t.String(), "int")
}

// ---- KILL, WAITFOR ----

func (x *execCtx) execKill(s *killStmt) (result, *sqlError) {
	v, err := x.evalLocked(s.spid)
	if err != nil {
		return result{}, err
	}
	if v.isNull() || !isNumericKind(v.t.k) {
		return result{}, errSyntax(v.display())
	}
	id := toInt64(v)
	if perr := x.denyKill(); perr != nil {
		return result{}, perr
	}
	srv := x.s.srv
	srv.mu.Lock()
	if int(id) == x.s.spid {
		srv.mu.Unlock()
		return result{}, errKillSelf()
	}
	target := srv.sessions[int(id)]
	if target == nil {
		srv.mu.Unlock()
		return result{}, errKillNoSession(id)
	}
	already := target.ending != nil
	srv.endSessionLocked(target)
	srv.mu.Unlock()
	if already {
		x.emitInfo(info(6120, 0, "SPID %d: transaction rollback in progress. Estimated rollback completion: 0%%. Estimated time remaining: 0 seconds.", id))
	}
	srv.logf("sqlsim: session %d killed by session %d", id, x.s.spid)
	return result{}, nil
}

func (x *execCtx) execWaitfor(s *waitforStmt) (result, *sqlError) {
	v, err := x.evalLocked(s.delay)
	if err != nil {
		return result{}, err
	}
	str := strings.TrimSpace(toString(v))
	var d time.Duration
	fields := strings.Split(str, ":")
	if len(fields) < 2 || len(fields) > 3 {
		return result{}, newErr(148, 15, "Incorrect time syntax in time string '%s' used with WAITFOR.", str)
	}
	for i, f := range fields {
		unit := []time.Duration{time.Hour, time.Minute, time.Second}[i]
		n, perr := strconv.ParseFloat(f, 64)
		if perr != nil || n < 0 || (i < len(fields)-1 && strings.Contains(f, ".")) {
			return result{}, newErr(148, 15, "Incorrect time syntax in time string '%s' used with WAITFOR.", str)
		}
		d += time.Duration(n * float64(unit))
	}
	if !x.s.sleep(d) {
		x.s.takeAttn()
		return result{}, attnErr
	}
	return result{}, nil
}

// ---- DBCC CHECKDB ----

// execCheckDB checks a database's consistency. The simulator has no pages
// to damage, so a database that can be opened passes; one that cannot
// (missing, or in the middle of a restore) fails as SQL Server does.
func (x *execCtx) execCheckDB(s *checkDBStmt) (result, *sqlError) {
	v, err := x.evalLocked(s.db)
	if err != nil {
		return result{}, err
	}
	if v.isNull() || !isStringKind(v.t.k) {
		return result{}, errUnsupported("DBCC CHECKDB takes a database name")
	}
	name := toString(v)
	srv := x.s.srv
	srv.mu.Lock()
	shown := name
	if sys, _, ok := systemDB(name); ok {
		shown = sys
	} else {
		d := srv.st.db(name)
		if d == nil {
			srv.mu.Unlock()
			return result{}, newErr(2520, 16, "Could not find database '%s'. The database either does not exist, or was dropped before a statement tried to use it. Verify if the database exists by querying the sys.databases catalog view.", name)
		}
		if d.State == "RESTORING" {
			srv.mu.Unlock()
			return result{}, errDBRestoring(d.Name)
		}
		shown = d.Name
	}
	srv.mu.Unlock()
	if slices.Contains(s.opts, "NO_INFOMSGS") {
		// NO_INFOMSGS suppresses every informational message.
		return result{}, nil
	}
	x.emitInfo(info(8989, 10, "CHECKDB found 0 allocation errors and 0 consistency errors in database '%s'.", shown))
	x.emitInfo(info(2528, 10, "DBCC execution completed. If DBCC printed error messages, contact your system administrator."))
	return result{}, nil
}
