package blob

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// stallPair returns a client connection with the liveness check, and the
// server's end of it.
func stallPair(t *testing.T, stall time.Duration) (client net.Conn, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	var d net.Dialer
	client, err = stallDialer(d.DialContext, stall)(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestStallConn_SilentPeerFailsWithinTheLimit(t *testing.T) {
	const stall = 300 * time.Millisecond
	t.Run("read", func(t *testing.T) {
		c, _ := stallPair(t, stall)
		start := time.Now()
		_, err := c.Read(make([]byte, 10))
		var se *StalledError
		if !errors.As(err, &se) {
			t.Fatalf("read from a silent peer: %v, want StalledError", err)
		}
		if d := time.Since(start); d < stall || d > 10*stall {
			t.Errorf("failed after %v, limit %v", d, stall)
		}
	})
	t.Run("write to a peer that stops reading", func(t *testing.T) {
		c, _ := stallPair(t, stall)
		start := time.Now()
		_, err := c.Write(make([]byte, 64<<20)) // far more than the socket buffers hold
		var se *StalledError
		if !errors.As(err, &se) {
			t.Fatalf("write: %v, want StalledError", err)
		}
		if d := time.Since(start); d > 20*stall {
			t.Errorf("failed after %v, limit %v", d, stall)
		}
		// The other direction then names the stall too, not "use of
		// closed network connection".
		c.Close()
		if _, err := c.Read(make([]byte, 1)); !errors.As(err, &se) || !errors.Is(err, net.ErrClosed) {
			t.Errorf("read after the stall: %v", err)
		}
	})
}

// A peer that keeps reading, however slowly, is never cut off — even when
// each piece takes most of the limit, and the whole transfer many times it.
func TestStallConn_SlowPeerIsNotCutOff(t *testing.T) {
	const stall = 300 * time.Millisecond
	c, s := stallPair(t, stall)
	// Small socket buffers, so that the write can only finish as fast as
	// the peer reads: 4 MiB at 256 KiB every stall/2 takes about 8 stalls.
	c.(*stallConn).Conn.(*net.TCPConn).SetWriteBuffer(64 << 10)
	s.(*net.TCPConn).SetReadBuffer(64 << 10)
	const total = 4 << 20
	go func() {
		buf := make([]byte, 256<<10)
		for {
			if _, err := io.ReadFull(s, buf); err != nil {
				return
			}
			time.Sleep(stall / 2)
		}
	}()
	start := time.Now()
	if _, err := c.Write(make([]byte, total)); err != nil {
		t.Fatalf("write to a slow reader: %v", err)
	}
	if d := time.Since(start); d < 3*stall {
		t.Errorf("took %v: not slow enough to show anything", d)
	}
}

// The HTTP pattern: the whole request body is handed to the kernel, then the
// client waits for the answer while the server is still reading the body,
// slowly, for many times the limit. Bytes acknowledged by the peer count as
// progress, so the wait is not cut short.
func TestStallConn_ReplyAfterSlowDrain(t *testing.T) {
	const stall = 300 * time.Millisecond
	c, s := stallPair(t, stall)
	// A small receive buffer, as behind a slow link: what the server has
	// not read waits in the client's send buffer, where acknowledgements
	// show it moving. (Bytes in the server's receive buffer count as
	// delivered: a server that takes longer than the limit to read a large
	// receive buffer is cut off; with the default limit of minutes, only
	// one reading a few KB/s.)
	s.(*net.TCPConn).SetReadBuffer(64 << 10)
	const total = 4 << 20
	go func() {
		buf := make([]byte, 128<<10)
		for n := 0; n < total; {
			m, err := io.ReadFull(s, buf[:min(len(buf), total-n)])
			if err != nil {
				return
			}
			n += m
			time.Sleep(stall / 4)
		}
		s.Write([]byte("ok"))
	}()
	start := time.Now()
	if _, err := c.Write(make([]byte, total)); err != nil {
		t.Fatalf("write: %v", err)
	}
	reply := make([]byte, 2)
	if _, err := io.ReadFull(c, reply); err != nil || string(reply) != "ok" {
		t.Fatalf("reply after a slow drain (%v): %q, %v", time.Since(start), reply, err)
	}
	if d := time.Since(start); d < 3*stall {
		t.Errorf("took %v: not slow enough to show anything", d)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"3", 3 * time.Second, true},
		{" 0 ", 0, true},
		{"Wed, 25 Nov 2026 12:00:10 GMT", 10 * time.Second, true},
		{"Wed, 25 Nov 2026 11:00:00 GMT", 0, true},
		{"", 0, false},
		{"-1", 0, false},
		{"soon", 0, false},
	} {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBackoff_GrowsAndIsBounded(t *testing.T) {
	for attempt := 1; attempt <= 40; attempt++ {
		want := min(maxBackoff, retryBase<<min(attempt-1, 20))
		for range 20 {
			if d := backoff(attempt); d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
}

func TestOpen_StallTimeout(t *testing.T) {
	for _, bad := range []string{"soon", "0s", "-1s"} {
		_, err := Open(context.Background(), "s3://b/p?region=us-east-1&stall_timeout="+bad)
		if err == nil {
			t.Errorf("stall_timeout=%s accepted", bad)
		}
	}
	t.Setenv("AZURE_STORAGE_ACCOUNT", "devstoreaccount1")
	t.Setenv("AZURE_STORAGE_KEY", "a2V5")
	t.Setenv("AZURE_STORAGE_SAS_TOKEN", "")
	b, err := Open(context.Background(), "azblob://c/p?protocol=http&domain=127.0.0.1:1&stall_timeout=5s")
	if err != nil {
		t.Fatalf("azblob with stall_timeout: %v", err)
	}
	b.Close()
}
