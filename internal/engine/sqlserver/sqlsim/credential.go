package sqlsim

import (
	"sort"
	"strings"
	"time"
)

// credential is a server-level credential (CREATE CREDENTIAL), what BACKUP
// and RESTORE … URL authenticate with (url.go).
type credential struct {
	ID         int       `json:"credential_id"`
	Name       string    `json:"name"`
	Identity   string    `json:"credential_identity"`
	Secret     string    `json:"secret"` // never shown: sys.credentials has no such column
	CreateDate time.Time `json:"create_date"`
}

// createCredentialStmt is CREATE CREDENTIAL name WITH IDENTITY = '…'[, SECRET = '…'].
type createCredentialStmt struct {
	stmtBase
	name     string
	identity expr
	secret   expr
}

// dropCredentialStmt is DROP CREDENTIAL name.
type dropCredentialStmt struct {
	stmtBase
	name string
}

func (p *parser) createCredentialStmt() (stmt, *sqlError) {
	p.i += 2
	name, err := p.ident()
	if err != nil {
		return nil, err
	}
	if err := p.expectKw("WITH"); err != nil {
		return nil, err
	}
	s := &createCredentialStmt{name: name}
	for {
		t := p.peek()
		if t.kind != tkIdent {
			return nil, p.near(t)
		}
		p.i++
		if err := p.expectPunct("="); err != nil {
			return nil, err
		}
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		switch strings.ToUpper(t.text) {
		case "IDENTITY":
			s.identity = e
		case "SECRET":
			s.secret = e
		default:
			return nil, p.near(t)
		}
		if !p.acceptPunct(",") {
			break
		}
	}
	if s.identity == nil {
		return nil, errSyntax("WITH")
	}
	if p.isKw(p.peek(), "FOR") {
		return nil, errUnsupported("CREATE CREDENTIAL … FOR CRYPTOGRAPHIC PROVIDER is not supported")
	}
	return s, nil
}

func (p *parser) dropCredentialStmt() (stmt, *sqlError) {
	p.i += 2
	name, err := p.ident()
	if err != nil {
		return nil, err
	}
	return &dropCredentialStmt{name: name}, nil
}

func (x *execCtx) execCreateCredential(s *createCredentialStmt) (result, *sqlError) {
	id, err := x.evalLocked(s.identity)
	if err != nil {
		return result{}, err
	}
	var secret string
	if s.secret != nil {
		v, err := x.evalLocked(s.secret)
		if err != nil {
			return result{}, err
		}
		secret = toString(v)
	}
	srv := x.s.srv
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.st.credential(s.name) != nil {
		return result{}, newErr(15025, 16, "The server principal '%s' already exists.", s.name)
	}
	next := 65536
	for _, c := range srv.st.Credentials {
		if c.ID >= next {
			next = c.ID + 1
		}
	}
	srv.st.Credentials = append(srv.st.Credentials, &credential{ID: next, Name: s.name, Identity: toString(id),
		Secret: secret, CreateDate: srv.now()})
	srv.persist()
	return result{}, nil
}

func (x *execCtx) execDropCredential(s *dropCredentialStmt) (result, *sqlError) {
	srv := x.s.srv
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for i, c := range srv.st.Credentials {
		if strings.EqualFold(c.Name, s.name) {
			srv.st.Credentials = append(srv.st.Credentials[:i], srv.st.Credentials[i+1:]...)
			srv.persist()
			return result{}, nil
		}
	}
	return result{}, newErr(15151, 16, "Cannot drop the credential '%s', because it does not exist or you do not have permission.", s.name)
}

// credential finds a credential by name (names compare as sysname does,
// case-insensitively under the default collation).
func (st *state) credential(name string) *credential {
	for _, c := range st.Credentials {
		if strings.EqualFold(c.Name, name) {
			return c
		}
	}
	return nil
}

// credentialFor is the credential SQL Server picks by itself for a URL:
// the one whose name is the longest prefix of the URL ending at a '/'
// (a container's or bucket's URL, or a deeper path in it).
func (st *state) credentialFor(rawURL string) *credential {
	u := strings.ToLower(rawURL)
	var best *credential
	for _, c := range st.Credentials {
		n := strings.ToLower(strings.TrimRight(c.Name, "/"))
		if !strings.Contains(n, "://") || !strings.HasPrefix(u, n+"/") {
			continue
		}
		if best == nil || len(n) > len(strings.TrimRight(best.Name, "/")) {
			best = c
		}
	}
	return best
}

func (x *execCtx) sysCredentials() *relation {
	r := &relation{cols: []column{
		col("credential_id", tInt, false),
		col("name", tSysname, false),
		col("credential_identity", tNVarChar(4000), true),
		col("create_date", tDateTime, false),
		col("modify_date", tDateTime, false),
		col("target_type", tNVarChar(100), true),
		col("target_id", tInt, true),
	}}
	cs := append([]*credential(nil), x.s.srv.st.Credentials...)
	sort.Slice(cs, func(i, j int) bool { return cs[i].ID < cs[j].ID })
	for _, c := range cs {
		r.rows = append(r.rows, []value{intVal(int64(c.ID)), strVal(c.Name), strVal(c.Identity),
			timeVal(c.CreateDate), timeVal(c.CreateDate), null(tNVarChar(100)), null(tInt)})
	}
	return r
}
