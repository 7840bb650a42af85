package sqlsim

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// session is one client connection (one SPID).
type session struct {
	srv  *Server
	conn net.Conn // the TCP connection (closed to end the session)
	out  *packetWriter
	// rw is what requests are read from: conn, or TLS over it (tls.go);
	// base is conn with the byte read to tell TLS from TDS given back.
	rw     io.ReadWriter
	base   net.Conn
	strict bool // TDS 8.0: TLS from the first byte

	// set at login, read-only afterwards
	spid      int
	user      string
	host      string
	app       string
	loginDB   string
	loginTime time.Time
	tdsVer    uint32
	who       *principal // the login and what it may do (perms.go)

	// curDB is the current database; guarded by srv.mu (others read it).
	curDB string

	nocount bool
	rpcDB   string // the database when the running sp_executesql began

	attnMu      sync.Mutex
	attnPending int // attention signals received and not yet answered
	attnAcked   int // answered inside a running request
	attnWake    chan struct{}
	gone        chan struct{} // closed when the connection's reader ends

	// ending is closed when a KILL or ROLLBACK that began ending the
	// session is done (readers.go); nil while nobody ends it. tran is the
	// open transaction count; held the databases (lower case) it touched by
	// three-part names. All three guarded by srv.mu.
	ending chan struct{}
	tran   int
	held   map[string]bool

	// killed is set when the session ended its own connection (a fatal
	// error, FailFatal): nothing more is sent.
	killed bool
}

func newSession(srv *Server, c net.Conn) *session {
	return &session{
		srv:      srv,
		conn:     c,
		rw:       c,
		out:      &packetWriter{w: c, size: 4096},
		attnWake: make(chan struct{}, 1),
		gone:     make(chan struct{}),
	}
}

type inMsg struct {
	typ, status byte
	payload     []byte
}

func (s *session) serve() {
	defer s.conn.Close()
	if !s.handshake() {
		return
	}
	defer func() {
		s.srv.mu.Lock()
		// A session being killed stays until its rollback is done, even
		// when its client has gone (readers.go).
		if s.srv.sessions[s.spid] == s && s.ending == nil {
			delete(s.srv.sessions, s.spid)
		}
		s.srv.mu.Unlock()
	}()

	msgs := make(chan inMsg, 8)
	done := make(chan struct{})
	defer close(done)
	s.srv.wg.Add(1)
	go func() {
		defer s.srv.wg.Done()
		defer close(msgs)
		defer close(s.gone)
		for {
			typ, status, payload, err := readMessage(s.rw)
			if err != nil {
				return
			}
			if typ == pktAttention {
				s.attnMu.Lock()
				s.attnPending++
				s.attnMu.Unlock()
				select {
				case s.attnWake <- struct{}{}:
				default:
				}
			}
			select {
			case msgs <- inMsg{typ, status, payload}:
			case <-done:
				return
			}
		}
	}()

	for m := range msgs {
		if err := s.handle(m); err != nil {
			return
		}
	}
}

// handshake answers PRELOGIN (and the TLS it negotiates, tls.go) and
// LOGIN7; false ends the connection.
func (s *session) handshake() bool {
	rw, ok := s.startTLS()
	if !ok {
		return false
	}
	s.rw, s.out.w = rw, rw
	typ, _, payload, err := readMessage(s.rw)
	if err != nil {
		return false
	}
	if typ == pktPrelogin {
		reply, mode := encryptOn, encNone // TDS 8.0: TLS is already there
		if !s.strict {
			client := encryptOff
			if v := preloginOption(payload, 1); len(v) == 1 {
				client = v[0]
			}
			reply, mode = s.srv.negotiate(client)
		}
		s.out.write(preloginReply(reply))
		if s.out.flush(true) != nil {
			return false
		}
		if mode == encRefuse {
			s.srv.logf("sqlsim: a client that does not encrypt (encrypt=disable) at a server that forces encryption: connection closed")
			return false
		}
		if mode == encLogin || mode == encFull {
			tc, ok := s.preloginHandshake()
			if !ok {
				return false
			}
			s.rw, s.out.w = tc, tc
		}
		typ, _, payload, err = readMessage(s.rw)
		if err != nil {
			return false
		}
		if mode == encLogin {
			// Only LOGIN7 was encrypted; the rest is plain.
			s.rw, s.out.w = s.base, s.base
		}
	}
	if !s.srv.hold(StallAll, nil) {
		return false
	}
	if typ != pktLogin7 {
		s.srv.logf("sqlsim: expected LOGIN7, got packet type %d", typ)
		return false
	}
	return s.login(payload)
}

func preloginReply(encryption byte) []byte {
	type opt struct {
		tok  byte
		data []byte
	}
	opts := []opt{
		{0, []byte{16, 0, 0x10, 0x27, 0, 0}}, // VERSION 16.0.4135
		{1, []byte{encryption}},              // ENCRYPTION (tls.go)
		{2, []byte{0}},                       // INSTOPT
		{3, []byte{}},                        // THREADID
		{4, []byte{0}},                       // MARS off
	}
	off := 5*len(opts) + 1
	var hdr, data []byte
	for _, o := range opts {
		hdr = append(hdr, o.tok)
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(off+len(data)))
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(len(o.data)))
		data = append(data, o.data...)
	}
	hdr = append(hdr, 0xFF)
	return append(hdr, data...)
}

type login7 struct {
	tdsVersion uint32
	packetSize uint32
	host       string
	user       string
	password   string
	app        string
	database   string
}

func parseLogin7(b []byte) (*login7, error) {
	if len(b) < 94 {
		return nil, fmt.Errorf("sqlsim: LOGIN7 too short (%d bytes)", len(b))
	}
	l := &login7{
		tdsVersion: binary.LittleEndian.Uint32(b[4:]),
		packetSize: binary.LittleEndian.Uint32(b[8:]),
	}
	field := func(at int) []byte {
		off := int(binary.LittleEndian.Uint16(b[at:]))
		n := int(binary.LittleEndian.Uint16(b[at+2:]))
		if off+2*n > len(b) {
			return nil
		}
		return b[off : off+2*n]
	}
	l.host = fromUCS2(field(36))
	l.user = fromUCS2(field(40))
	pw := append([]byte(nil), field(44)...)
	for i, c := range pw {
		c ^= 0xA5
		pw[i] = c<<4 | c>>4
	}
	l.password = fromUCS2(pw)
	l.app = fromUCS2(field(48))
	l.database = fromUCS2(field(68))
	return l, nil
}

func (s *session) login(payload []byte) bool {
	l, err := parseLogin7(payload)
	if err != nil {
		s.srv.logf("%v", err)
		return false
	}
	ps := int(l.packetSize)
	if ps == 0 {
		ps = 4096
	}
	ps = min(max(ps, 512), 32767)
	s.out.size = ps
	s.tdsVer = l.tdsVersion
	if s.tdsVer > 0x74000004 || s.tdsVer == 0x08000000 { // TDS 8.0 is 7.4's tokens over TLS
		s.tdsVer = 0x74000004
	}
	fail := func(e *sqlError) bool {
		for _, m := range e.msgs {
			s.out.write(msgToken(tokError, m, s.srv.opts.Name, ""))
		}
		s.out.write(doneToken(tokDone, doneError, 0, 0))
		_ = s.out.flush(true)
		return false
	}
	who := s.srv.authenticate(l.user, l.password)
	if who == nil {
		s.srv.logf("sqlsim: login failed for user %q", l.user)
		return fail(errLoginFailed(l.user))
	}
	dbName := l.database
	if dbName == "" {
		dbName = "master"
	}

	s.srv.mu.Lock()
	if s.srv.closed {
		s.srv.mu.Unlock()
		return false
	}
	canonical, dberr := s.srv.openableDB(dbName)
	if d := s.srv.st.db(canonical); dberr == nil && d != nil {
		if e := s.srv.admitLocked(s, d); e != nil {
			s.srv.mu.Unlock()
			return fail(e.then(errLoginDB(dbName)).then(errLoginFailed(l.user)))
		}
	}
	if dberr != nil {
		s.srv.mu.Unlock()
		return fail(errLoginDB(dbName).then(errLoginFailed(l.user)))
	}
	s.spid = s.srv.nextSPID
	s.srv.nextSPID++
	s.user, s.host, s.app, s.who = who.name, l.host, l.app, who
	s.loginDB = canonical
	s.curDB = canonical
	s.loginTime = s.srv.now()
	s.srv.sessions[s.spid] = s
	s.srv.mu.Unlock()
	s.out.spid = uint16(s.spid)

	s.out.write(envChangeToken(1, canonical, "master"))
	s.out.write(msgToken(tokInfo, info(5701, 0, "Changed database context to '%s'.", canonical), s.srv.opts.Name, ""))
	s.out.write(envChangeToken(2, "us_english", ""))
	s.out.write(msgToken(tokInfo, info(5703, 0, "Changed language setting to us_english."), s.srv.opts.Name, ""))
	s.out.write(collationEnvToken())
	s.out.write(loginAckToken(s.tdsVer))
	s.out.write(envChangeToken(4, fmt.Sprint(ps), "4096"))
	s.out.write(doneToken(tokDone, 0, 0, 0))
	if s.out.flush(true) != nil {
		return false
	}
	s.srv.logf("sqlsim: session %d logged in (database %s, app %q)", s.spid, canonical, l.app)
	return true
}

func loginAckToken(ver uint32) []byte {
	var body tbuf
	body.u8(1) // SQL_TSQL
	body.b = binary.BigEndian.AppendUint32(body.b, ver)
	body.bvarchar("Microsoft SQL Server")
	body.raw([]byte{16, 0, 0x10, 0x27}) // 16.0.4135
	var t tbuf
	t.u8(tokLoginAck)
	t.u16(uint16(len(body.b)))
	t.raw(body.b)
	return t.b
}

// openableDB resolves a database a session may use (login or USE).
// Callers hold srv.mu.
func (srv *Server) openableDB(name string) (string, *sqlError) {
	if canonical, _, ok := systemDB(name); ok {
		return canonical, nil
	}
	d := srv.st.db(name)
	if d == nil {
		return "", errDBNotExist(name)
	}
	if d.State == "RESTORING" {
		return "", errDBRestoring(d.Name)
	}
	return d.Name, nil
}

// ---- requests ----

func (s *session) handle(m inMsg) error {
	if !s.srv.hold(StallRequests, s.gone) {
		return errGone
	}
	if m.typ != pktAttention && s.beingKilled() {
		s.fatalError(errKillState())
		return errGone
	}
	if m.typ == pktAttention {
		s.attnMu.Lock()
		answered := s.attnAcked > 0
		if answered {
			s.attnAcked--
		} else if s.attnPending > 0 {
			s.attnPending--
		}
		s.attnMu.Unlock()
		if !answered {
			s.out.write(doneToken(tokDone, doneAttn, 0, 0))
			return s.out.flush(true)
		}
		return nil
	}
	if m.status&stReset != 0 {
		s.srv.mu.Lock()
		old := s.curDB
		s.curDB = s.loginDB
		s.tran, s.held = 0, nil // sp_reset_connection rolls back
		s.srv.mu.Unlock()
		s.nocount = false
		s.out.write(resetAckToken())
		if !strings.EqualFold(old, s.loginDB) {
			s.out.write(envChangeToken(1, s.loginDB, old))
		}
	}
	switch m.typ {
	case pktSQLBatch:
		r := &rd{b: m.payload}
		skipAllHeaders(r)
		text := fromUCS2(m.payload[r.pos:])
		s.runBatch(text, nil, false)
	case pktRPC:
		call, err := parseRPC(m.payload)
		if err != nil {
			s.fail(newErr(8009, 16, "%v", err), false)
			break
		}
		s.runRPC(call)
	default:
		s.fail(errUnsupported("TDS request type %d is not supported (no transactions, bulk load or SSPI)", m.typ), false)
	}
	if s.killed || s.ended() {
		// A server going down, or a client gone, gets no closing DONE: a
		// statement it abandoned must not read as one that finished.
		return errGone
	}
	return s.out.flush(true)
}

// ended reports whether the connection's reader stopped or the server is
// closing.
func (s *session) ended() bool {
	select {
	case <-s.gone:
		return true
	case <-s.srv.closing:
		return true
	default:
		return false
	}
}

func (s *session) runRPC(call *rpcCall) {
	if !(call.procID == 10 || isExecuteSQL(call.procName)) {
		pn := call.procName
		if pn == "" {
			pn = fmt.Sprintf("procedure id %d", call.procID)
		}
		s.fail(errNoProc(pn), true)
		return
	}
	if len(call.params) == 0 {
		s.fail(newErr(201, 16, "Procedure or function 'sp_executesql' expects parameter '@statement', which was not supplied."), true)
		return
	}
	stmtVal := call.params[0].val
	text, ok := stmtVal.v.(string)
	if !ok || (stmtVal.t.k != kNVarChar) {
		s.fail(newErr(214, 16, "Procedure expects parameter '@statement' of type 'ntext/nchar/nvarchar'."), true)
		return
	}
	params := map[string]value{}
	var declared []string
	if len(call.params) > 1 {
		if d, ok := call.params[1].val.v.(string); ok {
			declared = declaredNames(d)
		}
	}
	for i, p := range call.params[2:] {
		n := p.name
		if n == "" && i < len(declared) {
			n = declared[i]
		}
		if n == "" {
			continue
		}
		params[strings.ToLower(n)] = p.val
	}
	// USE inside dynamic SQL lasts until the end of sp_executesql.
	s.srv.mu.Lock()
	s.rpcDB = s.curDB
	s.srv.mu.Unlock()
	s.runBatch(text, params, true)
	s.rpcDB = ""
}

// leaveProc ends sp_executesql's scope: the database a USE inside it chose
// is left (with an ENVCHANGE) before the closing tokens.
func (s *session) leaveProc() {
	if s.rpcDB == "" {
		return
	}
	s.srv.mu.Lock()
	inner := s.curDB
	s.curDB = s.rpcDB
	s.srv.mu.Unlock()
	if inner != s.rpcDB {
		s.out.write(envChangeToken(1, s.rpcDB, inner))
	}
	s.rpcDB = ""
}

// isExecuteSQL recognises sp_executesql, sys.sp_executesql,
// [master].[sys].[sp_executesql] and the like.
func isExecuteSQL(name string) bool {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(p), "["), "]"))
	}
	n := len(parts)
	if parts[n-1] != "sp_executesql" || n > 3 {
		return false
	}
	if n >= 2 && parts[n-2] != "sys" && parts[n-2] != "dbo" && parts[n-2] != "" {
		return false
	}
	return n < 3 || parts[0] == "master" || parts[0] == ""
}

// declaredNames extracts @names from sp_executesql's @params declaration.
func declaredNames(decl string) []string {
	var out []string
	depth := 0
	start := 0
	parts := []string{}
	for i, c := range decl {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, decl[start:i])
				start = i + 1
			}
		}
	}
	parts = append(parts, decl[start:])
	for _, p := range parts {
		f := strings.Fields(p)
		if len(f) > 0 && strings.HasPrefix(f[0], "@") {
			out = append(out, f[0])
		}
	}
	return out
}

// attnErr marks a statement stopped by an attention signal.
var attnErr = &sqlError{}

type result struct {
	cmd   uint16
	count bool
	rows  uint64
}

// execCtx is the state of one request.
type execCtx struct {
	s      *session
	params map[string]value
	rpc    bool
	line   int
}

func (s *session) runBatch(text string, params map[string]value, rpc bool) {
	stmts, perr := parseBatch(text)
	if perr != nil {
		s.fail(perr, rpc)
		return
	}
	x := &execCtx{s: s, params: params, rpc: rpc}
	for i, st := range stmts {
		if s.takeAttn() {
			s.leaveProc()
			s.out.write(doneToken(tokDone, doneAttn, 0, 0))
			return
		}
		x.line = st.base().line
		if m, ok := s.srv.takeFatal(st.base().text); ok {
			s.fatalError(m)
			return
		}
		res, err := x.exec(st)
		if err == attnErr {
			s.leaveProc()
			s.out.write(doneToken(tokDone, doneAttn, 0, 0))
			return
		}
		if err != nil {
			for j := range err.msgs {
				if err.msgs[j].Line == 0 {
					err.msgs[j].Line = int32(x.line)
				}
			}
			s.fail(err, rpc)
			return
		}
		status := uint16(0)
		if res.count && !s.nocount {
			status |= doneCount
		}
		last := i == len(stmts)-1
		if rpc {
			s.out.write(doneToken(tokDoneInProc, status|doneMore, res.cmd, res.rows))
		} else {
			if !last {
				status |= doneMore
			}
			s.out.write(doneToken(tokDone, status, res.cmd, res.rows))
		}
		// Let clients see each statement's results as it completes.
		if !last {
			_ = s.out.flush(false)
		}
	}
	if rpc {
		s.leaveProc()
		s.out.write([]byte{tokReturnStatus, 0, 0, 0, 0})
		s.out.write(doneToken(tokDoneProc, 0, 0, 0))
	} else if len(stmts) == 0 {
		s.out.write(doneToken(tokDone, 0, 0, 0))
	}
}

// fail writes a statement's error messages and ends the request with an
// error DONE (and DONEPROC for RPC).
func (s *session) fail(err *sqlError, rpc bool) {
	for _, m := range err.msgs {
		if m.Line == 0 {
			m.Line = 1
		}
		s.out.write(msgToken(tokError, m, s.srv.opts.Name, ""))
	}
	if rpc {
		s.out.write(doneToken(tokDoneInProc, doneError|doneMore, 0, 0))
		s.leaveProc()
		s.out.write([]byte{tokReturnStatus, 0, 0, 0, 0})
		s.out.write(doneToken(tokDoneProc, doneError, 0, 0))
		return
	}
	s.out.write(doneToken(tokDone, doneError, 0, 0))
}

// emitInfo writes an INFO token (class <= 10).
func (x *execCtx) emitInfo(m sqlMsg) {
	if m.Line == 0 {
		m.Line = int32(x.line)
	}
	x.s.out.write(msgToken(tokInfo, m, x.s.srv.opts.Name, ""))
}

// flushNow sends what is buffered so the client sees progress now.
func (x *execCtx) flushNow() { _ = x.s.out.flush(false) }

// emitResult sends a result set. A value wider than its column's declared
// type would break the client's decoding (it sizes its buffers from the
// metadata), so it is refused as the simulator's own error before anything
// is sent: real SQL Server never sends one.
func (x *execCtx) emitResult(cols []column, rows [][]value) *sqlError {
	for _, r := range rows {
		for i, c := range cols {
			if err := fitsColumn(c, r[i]); err != nil {
				return err
			}
		}
	}
	x.s.out.write(colMetadataToken(cols))
	for _, r := range rows {
		x.s.out.write(rowToken(cols, r))
	}
	return nil
}

// takeAttn reports (and answers) a pending attention signal.
func (s *session) takeAttn() bool {
	s.attnMu.Lock()
	defer s.attnMu.Unlock()
	if s.attnPending > 0 {
		s.attnPending--
		s.attnAcked++
		return true
	}
	return false
}

// sleep waits d unless an attention arrives or the connection ends first
// (then it returns false).
func (s *session) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		s.attnMu.Lock()
		pending := s.attnPending > 0
		s.attnMu.Unlock()
		if pending {
			return false
		}
		select {
		case <-t.C:
			return true
		case <-s.attnWake:
		case <-s.gone:
			return false
		}
	}
}
