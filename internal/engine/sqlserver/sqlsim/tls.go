package sqlsim

import (
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
)

// PRELOGIN ENCRYPTION values (MS-TDS 2.2.6.5).
const (
	encryptOff    byte = 0 // available, off: the login alone is encrypted
	encryptOn     byte = 1
	encryptNotSup byte = 2
	encryptReq    byte = 3
	encryptStrict byte = 4 // TDS 8.0 clients say it inside TLS
)

// tlsFirstByte is a TLS record's content type for a handshake: a client that
// starts with it speaks TDS 8.0 (encrypt=strict), TLS before PRELOGIN.
const tlsFirstByte = 0x16

// encMode is what a connection's negotiation decided.
type encMode int

const (
	encNone   encMode = iota // nothing encrypted
	encLogin                 // TLS in PRELOGIN packets, LOGIN7 over it, then plain
	encFull                  // TLS in PRELOGIN packets, everything after over it
	encRefuse                // ENCRYPT_REQ answered to a client that cannot encrypt, then closed
)

// tlsConfig is the server side of TLS: TLS 1.2 at most inside PRELOGIN
// (TDS 7.x), TLS 1.2 or 1.3 with ALPN "tds/8.0" for strict.
func (srv *Server) tlsConfig(strict bool) *tls.Config {
	c := &tls.Config{Certificates: []tls.Certificate{*srv.opts.Certificate}, SessionTicketsDisabled: true, MinVersion: tls.VersionTLS12}
	if strict {
		c.NextProtos = []string{"tds/8.0"}
	} else {
		c.MaxVersion = tls.VersionTLS12
	}
	return c
}

// negotiate answers a client's PRELOGIN ENCRYPTION value (MS-TDS 2.2.6.5's
// table): without a certificate, ENCRYPT_NOT_SUP; with one, the login only
// when both sides are off, everything when either side asks for it, and
// under ForceEncryption ENCRYPT_REQ to everyone (a client that cannot
// encrypt is cut off).
func (srv *Server) negotiate(client byte) (reply byte, mode encMode) {
	if srv.opts.Certificate == nil {
		return encryptNotSup, encNone
	}
	force := srv.opts.ForceEncryption
	switch client {
	case encryptNotSup:
		if force {
			return encryptReq, encRefuse
		}
		return encryptNotSup, encNone
	case encryptOff:
		if force {
			return encryptReq, encFull
		}
		return encryptOff, encLogin
	}
	if force {
		return encryptReq, encFull
	}
	return encryptOn, encFull
}

// preloginOption is the value of PRELOGIN option tok, nil when absent.
func preloginOption(b []byte, tok byte) []byte {
	for i := 0; i+5 <= len(b) && b[i] != 0xFF; i += 5 {
		if b[i] != tok {
			continue
		}
		off, n := int(binary.BigEndian.Uint16(b[i+1:])), int(binary.BigEndian.Uint16(b[i+3:]))
		if off+n > len(b) {
			return nil
		}
		return b[off : off+n]
	}
	return nil
}

// prefixConn gives back the byte read to tell TLS from TDS.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(b, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// preloginTLS carries the TLS handshake inside TDS PRELOGIN packets (type
// 0x12), as TDS 7.x does, and passes bytes through once it is done (the TLS
// records then travel bare on the TCP connection).
type preloginTLS struct {
	net.Conn
	handshaking bool
	in          []byte
}

func (c *preloginTLS) Read(b []byte) (int, error) {
	if !c.handshaking {
		return c.Conn.Read(b)
	}
	for len(c.in) == 0 {
		typ, _, payload, err := readMessage(c.Conn)
		if err != nil {
			return 0, err
		}
		if typ != pktPrelogin {
			return 0, fmt.Errorf("sqlsim: TDS packet type %d during the TLS handshake, want PRELOGIN", typ)
		}
		c.in = payload
	}
	n := copy(b, c.in)
	c.in = c.in[n:]
	return n, nil
}

// Write sends one flight (crypto/tls writes a flight at once) as one TDS
// message: PRELOGIN packets, the last one marked end of message.
func (c *preloginTLS) Write(b []byte) (int, error) {
	if !c.handshaking {
		return c.Conn.Write(b)
	}
	const max = 4096 - 8
	var out []byte
	for rest := b; ; {
		n := min(len(rest), max)
		status := byte(0)
		if n == len(rest) {
			status = stEOM
		}
		out = append(out, pktPrelogin, status)
		out = binary.BigEndian.AppendUint16(out, uint16(n+8))
		out = append(out, 0, 0, 1, 0)
		out = append(out, rest[:n]...)
		rest = rest[n:]
		if len(rest) == 0 {
			break
		}
	}
	if _, err := c.Conn.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

// startTLS tells a TDS 8.0 client (TLS first) from a TDS 7.x one and, for
// the first, does the TLS handshake on the bare connection. It returns what
// to read the PRELOGIN from.
func (s *session) startTLS() (io.ReadWriter, bool) {
	first := make([]byte, 1)
	if _, err := io.ReadFull(s.conn, first); err != nil {
		return nil, false
	}
	// A frozen server accepts TCP (the kernel does) but answers nothing.
	if !s.srv.hold(StallAll, nil) {
		return nil, false
	}
	base := &prefixConn{Conn: s.conn, pre: first}
	s.base = base
	if first[0] != tlsFirstByte {
		if s.srv.opts.Strict {
			// Force Strict Encryption: a TDS 7.x client is not answered.
			s.srv.logf("sqlsim: a client without TLS (TDS 7.x) at a server that forces strict encryption (TDS 8.0): connection closed")
			return nil, false
		}
		return base, true
	}
	if s.srv.opts.Certificate == nil {
		s.srv.logf("sqlsim: a TLS client (TDS 8.0, encrypt=strict) at a server without a certificate: connection closed")
		return nil, false
	}
	tc := tls.Server(base, s.srv.tlsConfig(true))
	if err := tc.Handshake(); err != nil {
		s.srv.logf("sqlsim: TLS handshake (TDS 8.0): %v", err)
		return nil, false
	}
	s.strict = true
	return tc, true
}

// preloginHandshake runs the TLS handshake a PRELOGIN exchange decided,
// inside PRELOGIN packets; the returned connection reads and writes
// through TLS.
func (s *session) preloginHandshake() (*tls.Conn, bool) {
	pc := &preloginTLS{Conn: s.base, handshaking: true}
	tc := tls.Server(pc, s.srv.tlsConfig(false))
	if err := tc.Handshake(); err != nil {
		s.srv.logf("sqlsim: TLS handshake in PRELOGIN: %v", err)
		return nil, false
	}
	pc.handshaking = false
	return tc, true
}
