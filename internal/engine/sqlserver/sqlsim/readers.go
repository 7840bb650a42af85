package sqlsim

import (
	"strconv"
	"strings"
	"time"
)

// Readers: who holds a database, how long a KILL takes, who may see other
// sessions, transactions that keep a database referenced by a three-part
// name, and ALTER DATABASE … SET SINGLE_USER | RESTRICTED_USER | MULTI_USER
// with its termination clauses. See doc.go, "Readers".

// SetKillDelay makes KILL (and ALTER DATABASE … WITH ROLLBACK) take d to
// end a session: meanwhile it stays in sys.dm_exec_sessions and keeps
// holding its databases, as a session rolling back does. Zero: at once.
func (s *Server) SetKillDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killDelay = d
}

// DenyViewServerState makes the login behave as one without VIEW SERVER
// STATE: sys.dm_exec_sessions shows each session only its own row.
func (s *Server) DenyViewServerState(deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noViewServerState = deny
}

// seesAllSessions reports whether the session's login has VIEW SERVER
// STATE (perms.go), unless DenyViewServerState takes it from every login.
// Callers hold srv.mu.
func (s *session) seesAllSessions() bool {
	return !s.srv.noViewServerState && s.who.hasServerPerm("VIEW SERVER STATE")
}

// usersOfLocked lists the sessions other than except that use database
// name: whose current database it is, or whose open transaction touched it
// through a three-part name. Sessions being killed count until they are
// gone. Callers hold srv.mu.
func (srv *Server) usersOfLocked(name string, except *session) []*session {
	var out []*session
	for _, ss := range srv.sessions {
		if ss != except && (sameName(ss.curDB, name) || ss.held[strings.ToLower(name)]) {
			out = append(out, ss)
		}
	}
	return out
}

// endSessionLocked begins ending ss (KILL, or ALTER DATABASE … WITH
// ROLLBACK): after the kill delay its connection is closed and it leaves
// the session list. The channel closes when it is gone. Ending a session
// already being ended returns the same channel. Callers hold srv.mu.
func (srv *Server) endSessionLocked(ss *session) <-chan struct{} {
	if ss.ending != nil {
		return ss.ending
	}
	done := make(chan struct{})
	ss.ending = done
	delay := srv.killDelay
	if delay == 0 {
		delete(srv.sessions, ss.spid)
		close(done)
		ss.conn.Close()
		return done
	}
	srv.wg.Add(1)
	go func() {
		defer srv.wg.Done()
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-srv.closing:
				t.Stop()
			}
		}
		srv.mu.Lock()
		if srv.sessions[ss.spid] == ss {
			delete(srv.sessions, ss.spid)
		}
		srv.mu.Unlock()
		close(done) // whoever waits for it goes on at once
		ss.conn.Close()
	}()
	return done
}

// beingKilled reports whether a KILL or ROLLBACK began ending the session.
func (s *session) beingKilled() bool {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	return s.ending != nil
}

// errKillState is what a session being killed gets for its next request,
// before its connection is closed.
func errKillState() sqlMsg {
	return sqlMsg{Number: 596, State: 1, Class: 21, Text: "Cannot continue the execution because the session is in the kill state."}
}

// admitLocked refuses a session entering database d (login, USE, a
// three-part name) while d is SINGLE_USER and another session uses it:
// 924. Callers hold srv.mu.
func (srv *Server) admitLocked(s *session, d *database) *sqlError {
	if d.UserAccess == "SINGLE_USER" && len(srv.usersOfLocked(d.Name, s)) > 0 {
		return errSingleUser(d.Name)
	}
	return nil
}

// touchLocked is a query in session s reading d by a three-part name: the
// single-user rule applies, and an open transaction keeps d until it ends.
// Callers hold srv.mu.
func (x *execCtx) touchLocked(d *database) *sqlError {
	s := x.s
	if sameName(s.curDB, d.Name) {
		return nil
	}
	if err := s.srv.admitLocked(s, d); err != nil {
		return err
	}
	if s.tran > 0 {
		if s.held == nil {
			s.held = map[string]bool{}
		}
		s.held[strings.ToLower(d.Name)] = true
	}
	return nil
}

func errSingleUser(name string) *sqlError {
	return newErr(924, 14, "Database '%s' is already open and can only have one user at a time.", name)
}

func errAlterFailed() *sqlError {
	return newErr(5069, 16, "ALTER DATABASE statement failed.")
}

// ---- BEGIN TRAN, COMMIT, ROLLBACK ----

type tranStmt struct {
	stmtBase
	verb string // BEGIN, COMMIT, ROLLBACK
}

// tranStmt parses BEGIN TRAN[SACTION], COMMIT [TRAN[SACTION]|WORK] and
// ROLLBACK [TRAN[SACTION]|WORK] (no names, no savepoints).
func (p *parser) tranStmt() (stmt, *sqlError) {
	verb := strings.ToUpper(p.next().text)
	word := func() bool { return p.acceptKw("TRAN") || p.acceptKw("TRANSACTION") }
	if verb == "BEGIN" {
		if !word() {
			p.i--
			return nil, p.notUnderstood()
		}
	} else if !word() {
		p.acceptKw("WORK")
	}
	if !p.atStatementEnd() {
		return nil, p.notUnderstood()
	}
	return &tranStmt{verb: verb}, nil
}

func (x *execCtx) execTran(s *tranStmt) (result, *sqlError) {
	srv := x.s.srv
	srv.mu.Lock()
	defer srv.mu.Unlock()
	switch s.verb {
	case "BEGIN":
		x.s.tran++
		return result{}, nil
	case "COMMIT":
		if x.s.tran == 0 {
			return result{}, newErr(3902, 16, "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.")
		}
		x.s.tran--
	default:
		if x.s.tran == 0 {
			return result{}, newErr(3903, 16, "The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.")
		}
		x.s.tran = 0
	}
	if x.s.tran == 0 {
		x.s.held = nil
	}
	return result{}, nil
}

// ---- ALTER DATABASE … SET SINGLE_USER | RESTRICTED_USER | MULTI_USER ----

type alterAccessStmt struct {
	stmtBase
	name   nameArg
	access string // SINGLE_USER, RESTRICTED_USER, MULTI_USER
	// term is the termination: "" (wait), IMMEDIATE, AFTER, NO_WAIT.
	term  string
	after time.Duration
}

// alterAccess parses the rest of ALTER DATABASE x SET <access> [WITH
// ROLLBACK IMMEDIATE | ROLLBACK AFTER n [SECONDS] | NO_WAIT]; p is at the
// access word.
func (p *parser) alterAccess(n nameArg) (stmt, *sqlError) {
	s := &alterAccessStmt{name: n, access: strings.ToUpper(p.next().text)}
	if !p.acceptKw("WITH") {
		return s, nil
	}
	if p.acceptKw("NO_WAIT") {
		s.term = "NO_WAIT"
		return s, nil
	}
	if err := p.expectKw("ROLLBACK"); err != nil {
		return nil, err
	}
	if p.acceptKw("IMMEDIATE") {
		s.term = "IMMEDIATE"
		return s, nil
	}
	if err := p.expectKw("AFTER"); err != nil {
		return nil, err
	}
	t := p.next()
	secs, err := strconv.Atoi(t.text)
	if t.kind != tkNumber || err != nil || secs < 0 {
		return nil, p.near(t)
	}
	p.acceptKw("SECONDS")
	s.term, s.after = "AFTER", time.Duration(secs)*time.Second
	return s, nil
}

func isAccessWord(t token) bool {
	switch strings.ToUpper(t.text) {
	case "SINGLE_USER", "RESTRICTED_USER", "MULTI_USER":
		return t.kind == tkIdent
	}
	return false
}

func (x *execCtx) execAlterAccess(s *alterAccessStmt) (result, *sqlError) {
	srv := x.s.srv
	name := s.name.ident
	srv.mu.Lock()
	if sys, _, ok := systemDB(name); ok {
		srv.mu.Unlock()
		return result{}, newErr(5058, 16, "Option '%s' cannot be set in database '%s'.", s.access, sys).then(errAlterFailed())
	}
	d := srv.st.db(name)
	if d == nil {
		srv.mu.Unlock()
		return result{}, newErr(5011, 14, "User does not have permission to alter database '%s', the database does not exist, or the database is not in a state that allows access checks.", name).then(errAlterFailed())
	}
	if d.State == "RESTORING" {
		srv.mu.Unlock()
		return result{}, newErr(5052, 16, "ALTER DATABASE is not permitted while a database is in the Restoring state.").then(errAlterFailed())
	}
	deadline := time.Now().Add(s.after)
	for {
		others := srv.usersOfLocked(d.Name, x.s)
		if d.UserAccess == "SINGLE_USER" && len(others) > 0 && s.term != "IMMEDIATE" && s.term != "AFTER" {
			srv.mu.Unlock()
			return result{}, newErr(5064, 16, "Changes to the state or options of database '%s' cannot be made at this time. The database is in single-user mode, and a user is currently connected to it.", d.Name).then(errAlterFailed())
		}
		if len(others) == 0 || s.access == "MULTI_USER" {
			break
		}
		switch {
		case s.term == "NO_WAIT":
			srv.mu.Unlock()
			return result{}, newErr(5070, 16, "Database state cannot be changed while other users are using the database '%s'", d.Name).then(errAlterFailed())
		case s.term == "IMMEDIATE" || (s.term == "AFTER" && !time.Now().Before(deadline)):
			// The new access applies at once, so nobody enters while the
			// sessions using the database are ended.
			d.UserAccess = accessOf(s.access)
			srv.persist()
			var gone []<-chan struct{}
			for _, o := range others {
				gone = append(gone, srv.endSessionLocked(o))
				srv.logf("sqlsim: session %d ended by ALTER DATABASE %q SET %s WITH ROLLBACK (session %d)", o.spid, d.Name, s.access, x.s.spid)
			}
			srv.mu.Unlock()
			for _, g := range gone {
				if !x.s.waitFor(g) {
					x.s.takeAttn()
					return result{}, attnErr
				}
			}
		default:
			// No termination (or AFTER not yet reached): wait for them to
			// leave.
			srv.mu.Unlock()
			if !x.s.sleep(20 * time.Millisecond) {
				x.s.takeAttn()
				return result{}, attnErr
			}
		}
		srv.mu.Lock()
		if d = srv.st.db(name); d == nil || d.State == "RESTORING" {
			srv.mu.Unlock()
			return result{}, errDBNotExist(name).then(errAlterFailed())
		}
	}
	if d.UserAccess != accessOf(s.access) {
		d.UserAccess = accessOf(s.access)
		srv.persist()
	}
	srv.mu.Unlock()
	srv.logf("sqlsim: ALTER DATABASE %q SET %s", d.Name, s.access)
	return result{}, nil
}

// accessOf is how the database keeps a user access ("" for MULTI_USER).
func accessOf(a string) string {
	if a == "MULTI_USER" {
		return ""
	}
	return a
}

// userAccessOf is sys.databases.user_access and user_access_desc.
func userAccessOf(stored string) (int64, string) {
	switch stored {
	case "SINGLE_USER":
		return 1, stored
	case "RESTRICTED_USER":
		return 2, stored
	}
	return 0, "MULTI_USER"
}

// waitFor waits until ch closes, an attention arrives or the connection
// ends (then false).
func (s *session) waitFor(ch <-chan struct{}) bool {
	for {
		s.attnMu.Lock()
		pending := s.attnPending > 0
		s.attnMu.Unlock()
		if pending {
			return false
		}
		select {
		case <-ch:
			return true
		case <-s.attnWake:
		case <-s.gone:
			return false
		}
	}
}
