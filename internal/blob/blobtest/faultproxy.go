package blobtest

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"
)

// FaultKind is what a FaultProxy does to a request instead of forwarding it.
type FaultKind int

const (
	// Fail500 answers 500 InternalError (the body is read first, so the
	// client sees a clean answer).
	Fail500 FaultKind = iota + 1
	// SlowDown503 answers 503 SlowDown (S3) or ServerBusy (Azure).
	SlowDown503
	// ResetMidBody reads about half of the request body (none if it has
	// none), then resets the connection (TCP RST).
	ResetMidBody
	// Hang reads the request head and then does nothing at all: no answer,
	// no more reading, the connection left open.
	Hang
	// DropResponse forwards the request, so the server acts on it, then
	// resets the connection instead of passing the answer on.
	DropResponse
	// Lie404 answers 404 without forwarding (a HEAD that sees nothing).
	Lie404
	// Slow forwards the request, but reads its body and writes the answer's
	// at Rate bytes a second: a transfer that is slow but progressing.
	Slow
)

func (k FaultKind) String() string {
	switch k {
	case Fail500:
		return "500"
	case SlowDown503:
		return "503"
	case ResetMidBody:
		return "reset"
	case Hang:
		return "hang"
	case DropResponse:
		return "drop-response"
	case Lie404:
		return "404"
	case Slow:
		return "slow"
	}
	return "none"
}

// Fault is one rule of a FaultProxy.
type Fault struct {
	Kind FaultKind
	// Match selects the requests the fault applies to (nil: all).
	Match func(*http.Request) bool
	// Times is how many matching requests get the fault (0: all, until
	// Clear).
	Times int
	// RetryAfter, when set, is sent as Retry-After with Fail500 and
	// SlowDown503.
	RetryAfter string
	// Rate is Slow's bytes per second (default 1 MiB/s).
	Rate int64

	used int
}

// Request is a request the proxy saw, and the fault it got (0: forwarded).
type Request struct {
	Method, Path string
	Query        url.Values
	Fault        FaultKind
	At           time.Time
}

// FaultProxy is an HTTP reverse proxy in front of an object store (S3 or
// Azure Blob on loopback) that injects faults into chosen requests: error
// statuses, connection resets, a server that hangs. The request's Host
// header is passed through unchanged, so signatures computed for the proxy's
// address still verify at the server.
type FaultProxy struct {
	// URL is the proxy's base URL (http://127.0.0.1:port); Addr its host:port.
	URL, Addr string

	upstream *url.URL
	srv      *http.Server
	tr       *http.Transport
	rp       *httputil.ReverseProxy

	mu     sync.Mutex
	faults []*Fault
	log    []Request
	held   []net.Conn
	closed bool
}

// NewFaultProxy starts a proxy to upstream (a base URL such as
// http://127.0.0.1:7070), closed when t ends.
func NewFaultProxy(t testing.TB, upstream string) *FaultProxy {
	t.Helper()
	up, err := url.Parse(upstream)
	if err != nil || up.Host == "" {
		t.Fatalf("fault proxy: upstream %q is not a URL", upstream)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &FaultProxy{URL: "http://" + ln.Addr().String(), Addr: ln.Addr().String(), upstream: up,
		tr: &http.Transport{ExpectContinueTimeout: time.Second, MaxIdleConnsPerHost: 16}}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(up)
			r.Out.Host = r.In.Host // signed by the client
		},
		Transport:     p.tr,
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0),
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "fault proxy: "+err.Error(), http.StatusBadGateway)
		},
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ErrorLog: log.New(io.Discard, "", 0),
		ConnState: func(c net.Conn, s http.ConnState) {
			if tc, ok := c.(*net.TCPConn); ok && s == http.StateNew {
				// A modest receive buffer, as a real link has: what Slow has
				// not read yet waits on the client's side.
				_ = tc.SetReadBuffer(128 << 10)
			}
		}}
	go func() { _ = p.srv.Serve(ln) }()
	t.Cleanup(p.Close)
	return p
}

// Inject adds a fault rule; rules are tried in the order added.
func (p *FaultProxy) Inject(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, &f)
}

// Clear removes every fault rule: requests are forwarded again.
func (p *FaultProxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = nil
}

// Requests returns the requests seen so far.
func (p *FaultProxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.log...)
}

// Faulted counts the requests that got a fault of kind k.
func (p *FaultProxy) Faulted(k FaultKind) int {
	n := 0
	for _, r := range p.Requests() {
		if r.Fault == k {
			n++
		}
	}
	return n
}

// Close stops the proxy and drops every connection, hung ones included.
func (p *FaultProxy) Close() {
	p.mu.Lock()
	p.closed = true
	held := p.held
	p.held = nil
	p.mu.Unlock()
	for _, c := range held {
		_ = c.Close()
	}
	_ = p.srv.Close()
	p.tr.CloseIdleConnections()
}

// pick returns the fault for r (Kind 0: none) and logs r.
func (p *FaultProxy) pick(r *http.Request) Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	var got Fault
	for _, f := range p.faults {
		if (f.Times == 0 || f.used < f.Times) && (f.Match == nil || f.Match(r)) {
			f.used++
			got = *f
			break
		}
	}
	p.log = append(p.log, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Fault: got.Kind, At: time.Now()})
	return got
}

func (p *FaultProxy) serve(w http.ResponseWriter, r *http.Request) {
	f := p.pick(r)
	kind := f.Kind
	switch kind {
	case 0:
		p.rp.ServeHTTP(w, r)
	case Slow:
		rate := f.Rate
		if rate <= 0 {
			rate = 1 << 20
		}
		r.Body = &slowBody{ReadCloser: r.Body, rate: rate}
		p.rp.ServeHTTP(&slowWriter{ResponseWriter: w, rate: rate}, r)
	case Fail500, SlowDown503, Lie404:
		_, _ = io.Copy(io.Discard, r.Body)
		status, s3Code, azCode, msg := http.StatusInternalServerError, "InternalError", "InternalError", "We encountered an internal error. Please try again."
		switch kind {
		case SlowDown503:
			status, s3Code, azCode, msg = http.StatusServiceUnavailable, "SlowDown", "ServerBusy", "Please reduce your request rate."
		case Lie404:
			status, s3Code, azCode, msg = http.StatusNotFound, "NoSuchKey", "BlobNotFound", "The specified key does not exist."
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		code := s3Code
		if r.Header.Get("X-Ms-Version") != "" {
			code = azCode
			w.Header().Set("X-Ms-Error-Code", code)
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
		}
	case ResetMidBody:
		if n := r.ContentLength / 2; n > 0 {
			_, _ = io.CopyN(io.Discard, r.Body, n)
		}
		p.reset(w)
	case Hang:
		c := p.hijack(w)
		if c == nil {
			return
		}
		p.mu.Lock()
		if p.closed {
			_ = c.Close()
		} else {
			p.held = append(p.held, c)
		}
		p.mu.Unlock()
	case DropResponse:
		out := r.Clone(context.WithoutCancel(r.Context()))
		out.RequestURI = ""
		out.URL.Scheme, out.URL.Host = p.upstream.Scheme, p.upstream.Host
		out.Host = r.Host
		if resp, err := p.tr.RoundTrip(out); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		p.reset(w)
	}
}

// reset closes the client's connection with a TCP RST.
func (p *FaultProxy) reset(w http.ResponseWriter) {
	c := p.hijack(w)
	if c == nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

func (p *FaultProxy) hijack(w http.ResponseWriter) net.Conn {
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil // HTTP/1.1 only: never the case on this server
	}
	return c
}

// slowBody and slowWriter pace a transfer at rate bytes a second, in pieces
// small enough that it never pauses long.
const slowPiece = 16 << 10

type slowBody struct {
	io.ReadCloser
	rate int64
}

func (b *slowBody) Read(p []byte) (int, error) {
	if len(p) > slowPiece {
		p = p[:slowPiece]
	}
	n, err := b.ReadCloser.Read(p)
	time.Sleep(time.Duration(int64(n) * int64(time.Second) / b.rate))
	return n, err
}

type slowWriter struct {
	http.ResponseWriter
	rate int64
}

func (w *slowWriter) Write(p []byte) (int, error) {
	var n int
	for len(p) > 0 {
		q := p[:min(len(p), slowPiece)]
		m, err := w.ResponseWriter.Write(q)
		n += m
		if err != nil {
			return n, err
		}
		_ = http.NewResponseController(w.ResponseWriter).Flush()
		time.Sleep(time.Duration(int64(m) * int64(time.Second) / w.rate))
		p = p[m:]
	}
	return n, nil
}

func (w *slowWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
