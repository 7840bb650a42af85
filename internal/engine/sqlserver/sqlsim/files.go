package sqlsim

import (
	"strconv"
	"strings"
)

// Files added to and removed from a database (ALTER DATABASE … ADD [LOG]
// FILE, REMOVE FILE), carried by the log to the servers that restore it,
// and the placement of the files a log restore creates (see doc.go).

// fileRec is a file record in the log: the file added (with its CreateLSN)
// or the file removed (with its DropLSN).
type fileRec struct {
	Add  *dbFile `json:"add,omitempty"`
	Drop *dbFile `json:"drop,omitempty"`
}

// alterFileStmt is ALTER DATABASE x ADD [LOG] FILE (…)[, (…)] [TO FILEGROUP
// fg] or ALTER DATABASE x REMOVE FILE logical.
type alterFileStmt struct {
	stmtBase
	name      nameArg
	remove    string     // REMOVE FILE: the logical name
	log       bool       // ADD LOG FILE
	specs     []fileSpec // ADD [LOG] FILE
	filegroup string     // TO FILEGROUP; "" is PRIMARY
}

// fileSpec is one file's NAME and FILENAME: literals, as T-SQL takes no
// variables there.
type fileSpec struct {
	logical, physical string
	size              int64 // SIZE in bytes; 0: the simulator's 8 MB
}

// alterFile parses what follows ALTER DATABASE x when it is ADD [LOG] FILE
// or REMOVE FILE; p is at ADD or REMOVE.
func (p *parser) alterFile(n nameArg) (stmt, *sqlError) {
	s := &alterFileStmt{name: n}
	if p.acceptKw("REMOVE") {
		if err := p.expectKw("FILE"); err != nil {
			return nil, err
		}
		t := p.peek()
		switch {
		case p.isIdent(t):
			p.i++
			s.remove = t.text
		case t.kind == tkString || t.kind == tkNString:
			p.i++
			s.remove = t.text
		default:
			return nil, p.near(t)
		}
		return s, nil
	}
	if err := p.expectKw("ADD"); err != nil {
		return nil, err
	}
	s.log = p.acceptKw("LOG")
	if err := p.expectKw("FILE"); err != nil {
		return nil, err
	}
	for {
		spec, err := p.fileSpec()
		if err != nil {
			return nil, err
		}
		s.specs = append(s.specs, spec)
		if !p.acceptPunct(",") {
			break
		}
	}
	if !s.log && p.acceptKw("TO") {
		if err := p.expectKw("FILEGROUP"); err != nil {
			return nil, err
		}
		fg, err := p.ident()
		if err != nil {
			return nil, err
		}
		s.filegroup = fg
	}
	return s, nil
}

// fileSpec is ( NAME = name, FILENAME = 'path' [, SIZE = n[KB|MB|GB|TB]]
// [, MAXSIZE = n[…] | UNLIMITED] [, FILEGROWTH = n[…|%]] ).
func (p *parser) fileSpec() (fileSpec, *sqlError) {
	var f fileSpec
	if err := p.expectPunct("("); err != nil {
		return f, err
	}
	seen := map[string]bool{}
	for {
		t := p.next()
		key := strings.ToUpper(t.text)
		if t.kind != tkIdent || seen[key] {
			return f, p.near(t)
		}
		seen[key] = true
		if err := p.expectPunct("="); err != nil {
			return f, err
		}
		switch key {
		case "NAME":
			v := p.next()
			if !p.isIdent(v) && v.kind != tkString && v.kind != tkNString {
				return f, p.near(v)
			}
			f.logical = v.text
		case "FILENAME":
			v := p.next()
			if v.kind != tkString && v.kind != tkNString {
				return f, p.near(v)
			}
			f.physical = v.text
		case "SIZE", "MAXSIZE", "FILEGROWTH":
			v := p.next()
			if key == "MAXSIZE" && p.isKw(v, "UNLIMITED") {
				break
			}
			if v.kind != tkNumber {
				return f, p.near(v)
			}
			unit := int64(1 << 20) // "The default is MB"
			if u := p.peek(); u.kind == tkIdent && (strings.EqualFold(u.text, "KB") || strings.EqualFold(u.text, "MB") || strings.EqualFold(u.text, "GB") || strings.EqualFold(u.text, "TB")) {
				unit = map[string]int64{"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}[strings.ToUpper(u.text)]
				p.i++
			} else if key == "FILEGROWTH" && p.isPunct(u, "%") {
				p.i++
			}
			if n, err := strconv.ParseInt(v.text, 10, 64); key == "SIZE" && err == nil {
				f.size = n * unit
			}
		default:
			return f, p.near(t)
		}
		if !p.acceptPunct(",") {
			break
		}
	}
	if err := p.expectPunct(")"); err != nil {
		return f, err
	}
	if f.logical == "" || f.physical == "" {
		// SQL Server requires both for ADD FILE (its own message numbers
		// for each omission are not modelled).
		return f, errUnsupported("ADD FILE needs NAME and FILENAME")
	}
	return f, nil
}

func (x *execCtx) execAlterFile(s *alterFileStmt) (result, *sqlError) {
	name, err := x.nameArg(s.name)
	if err != nil {
		return result{}, err
	}
	specs := s.specs
	srv := x.s.srv
	srv.mu.Lock()
	defer srv.mu.Unlock()
	failed := newErr(5069, 16, "ALTER DATABASE statement failed.")
	if _, _, ok := systemDB(name); ok {
		return result{}, newErr(5013, 16, "The master and model databases cannot have files added to them. ALTER DATABASE was aborted.")
	}
	d := srv.st.db(name)
	if d == nil {
		return result{}, newErr(5011, 14, "User does not have permission to alter database '%s', the database does not exist, or the database is not in a state that allows access checks.", name).then(failed)
	}
	if d.State == "RESTORING" {
		return result{}, errDBRestoring(d.Name).then(failed)
	}
	if d.Standby || d.ReadOnly {
		return result{}, errWarmStandby(d.Name).then(failed)
	}
	if s.remove != "" {
		return x.removeFile(d, s.remove)
	}
	fg := "PRIMARY"
	if s.filegroup != "" {
		fg = ""
		for _, f := range d.Files {
			if f.Type == "D" && sameName(f.FileGroup, s.filegroup) {
				fg = f.FileGroup
			}
		}
		if fg == "" {
			// sqlsim has no ADD FILEGROUP: only the filegroups its files
			// already use exist.
			return result{}, newErr(5014, 16, "The filegroup '%s' does not exist in database '%s'.", s.filegroup, d.Name)
		}
	}
	added := make([]dbFile, 0, len(specs))
	for _, sp := range specs {
		for _, f := range append(append([]dbFile(nil), d.Files...), added...) {
			if strings.EqualFold(f.Logical, sp.logical) {
				return result{}, newErr(1828, 16, "The logical file name \"%s\" is already in use. Choose a different name.", sp.logical)
			}
		}
		if err := checkDir(sp.physical); err != nil {
			return result{}, errDirLookup(sp.physical, osError(err)).then(newErr(5009, 16, "One or more files listed in the statement could not be found or could not be initialized."))
		}
		if owner := srv.fileOwner(sp.physical, added); owner != "" {
			return result{}, newErr(5170, 16, "Cannot create file '%s' because it already exists. Change the file path or the file name, and retry the operation.", sp.physical).
				then(newErr(5009, 16, "One or more files listed in the statement could not be found or could not be initialized."))
		}
		f := dbFile{Logical: sp.logical, Physical: sp.physical, Type: "D", FileGroup: fg, Size: 8 << 20}
		if sp.size > 0 {
			f.Size = sp.size
		}
		if s.log {
			f.Type, f.FileGroup = "L", ""
		}
		added = append(added, f)
	}
	for _, f := range added {
		f.FileID = nextFileID(d.Files)
		f.CreateLSN = d.takeLSN()
		d.Files = append(d.Files, f)
		d.Log = append(d.Log, logRec{LSN: f.CreateLSN, Time: srv.now(), File: &fileRec{Add: &f}})
		srv.logf("sqlsim: %q: file %q added at %s (LSN %s)", d.Name, f.Logical, f.Physical, f.CreateLSN)
	}
	d.trimLog()
	srv.persist()
	return result{}, nil
}

// removeFile is ALTER DATABASE x REMOVE FILE; callers hold srv.mu. The
// simulator's files hold no data, so every other file is empty.
func (x *execCtx) removeFile(d *database, logical string) (result, *sqlError) {
	srv := x.s.srv
	for i, f := range d.Files {
		if !strings.EqualFold(f.Logical, logical) {
			continue
		}
		if f.FileID == 1 || f.FileID == 2 {
			return result{}, newErr(5020, 16, "The primary data or log file cannot be removed from a database.")
		}
		f.DropLSN = d.takeLSN()
		d.Files = append(d.Files[:i:i], d.Files[i+1:]...)
		d.Log = append(d.Log, logRec{LSN: f.DropLSN, Time: srv.now(), File: &fileRec{Drop: &f}})
		d.trimLog()
		srv.persist()
		x.emitInfo(info(5044, 0, "The file '%s' has been removed.", f.Logical))
		srv.logf("sqlsim: %q: file %q removed (LSN %s)", d.Name, f.Logical, f.DropLSN)
		return result{}, nil
	}
	return result{}, newErr(5041, 16, "MODIFY FILE failed. File '%s' does not exist.", logical)
}

func nextFileID(files []dbFile) int {
	id := 0
	for _, f := range files {
		id = max(id, f.FileID)
	}
	return id + 1
}

// fileOwner names the database on this server that has a file at path
// ("" when none); pending are files being added now. Callers hold srv.mu.
func (srv *Server) fileOwner(path string, pending []dbFile) string {
	for _, f := range pending {
		if samePath(f.Physical, path) {
			return "(this statement)"
		}
	}
	for _, d := range srv.st.Databases {
		for _, f := range d.Files {
			if samePath(f.Physical, path) {
				return d.Name
			}
		}
	}
	return ""
}

// droppedIn lists the files a log range removes, with their DropLSN: a log
// backup's file list includes them (FILELISTONLY's DropLSN).
func droppedIn(log []logRec) []dbFile {
	var out []dbFile
	for _, r := range log {
		if r.File != nil && r.File.Drop != nil {
			out = append(out, *r.File.Drop)
		}
	}
	return out
}

// planLogFiles works out where the files a log backup creates go on this
// database: the files in the backup's list that the database does not have
// and that were created in the part of the log still to apply. They go to
// the backup's physical path unless MOVE names another; a MOVE of a file
// the database already has, or of a name not in the backup, is refused.
// Callers hold srv.mu.
func (x *execCtx) planLogFiles(d *database, h *bakHeader, o *opts) (map[string]dbFile, *sqlError) {
	has := func(logical string) bool {
		for _, f := range d.Files {
			if strings.EqualFold(f.Logical, logical) {
				return true
			}
		}
		return false
	}
	added := map[string]dbFile{}
	for _, f := range h.Files {
		if f.CreateLSN == "" || lsnCmp(f.CreateLSN, d.RedoLSN) < 0 || has(f.Logical) {
			continue
		}
		added[strings.ToLower(f.Logical)] = f
	}
	for _, m := range o.moves {
		key := strings.ToLower(m.logical)
		f, ok := added[key]
		if !ok {
			for _, bf := range h.Files {
				if strings.EqualFold(bf.Logical, m.logical) {
					// What SQL Server does with a MOVE of a file the
					// database already has is not documented.
					return nil, errUnsupported("RESTORE LOG WITH MOVE of file '%s', which database '%s' already has", m.logical, d.Name)
				}
			}
			return nil, errLogicalFile(m.logical, h.DatabaseName).then(errRestorePlanning())
		}
		f.Physical = m.physical
		added[key] = f
	}
	var problems *sqlError
	add := func(e *sqlError) {
		if problems == nil {
			problems = e
		} else {
			problems = problems.then(e)
		}
	}
	for _, f := range h.Files {
		pf, ok := added[strings.ToLower(f.Logical)]
		if !ok {
			continue
		}
		if err := checkDir(pf.Physical); err != nil {
			add(errDirLookup(pf.Physical, osError(err)))
			add(errCannotRestoreFile(pf.Logical, pf.Physical))
			continue
		}
		if owner := x.s.srv.fileOwner(pf.Physical, nil); owner != "" {
			add(errFileInUse(pf.Physical, owner))
			add(errCannotRestoreFile(pf.Logical, pf.Physical))
		}
	}
	if problems != nil {
		return nil, problems.then(errRestorePlanning())
	}
	return added, nil
}

// applyFileRec replays a file record of a restored log on d; added holds
// where the restore places the files it creates.
func applyFileRec(d *database, r *fileRec, added map[string]dbFile) {
	switch {
	case r.Add != nil:
		f := *r.Add
		if pf, ok := added[strings.ToLower(f.Logical)]; ok {
			f.Physical = pf.Physical
		}
		f.DropLSN = ""
		for _, have := range d.Files {
			if strings.EqualFold(have.Logical, f.Logical) {
				return
			}
		}
		d.Files = append(d.Files, f)
	case r.Drop != nil:
		out := d.Files[:0:0]
		for _, f := range d.Files {
			if !strings.EqualFold(f.Logical, r.Drop.Logical) {
				out = append(out, f)
			}
		}
		d.Files = out
	}
}
