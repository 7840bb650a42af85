package sqlserver

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
)

// BenchmarkObserve_100_rtt2ms: ObservePrimary and ObserveStandby over 100
// databases (each with a full backup on the primary, restored NORECOVERY
// on the standby), on simulators behind a link that holds each reply 2 ms,
// as to a server in another data centre: what a cron run's refresh costs
// when round trips, not the server, set the time.
func BenchmarkObserve_100_rtt2ms(b *testing.B) {
	ctx := context.Background()
	var sims []*sqlsim.Server
	for _, name := range []string{"PRIMARY", "STANDBY"} {
		srv, err := sqlsim.Start(sqlsim.Options{Addr: "127.0.0.1:0", DataDir: b.TempDir(), LSNBase: bigLSNBase, Name: name})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { srv.Close() })
		sims = append(sims, srv)
	}
	openVia := func(srv *sqlsim.Server, delay time.Duration) engine.Session {
		u, err := url.Parse(srv.DSN(""))
		if err != nil {
			b.Fatal(err)
		}
		if delay > 0 {
			u.Host = slowLink(b, srv.Addr(), delay)
		}
		s, err := New().Open(ctx, u.String())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}
	// Seeding goes direct.
	primary, target := openVia(sims[0], 0), openVia(sims[1], 0)
	dir := b.TempDir()
	var names []string
	for i := 0; i < 100; i++ {
		db := fmt.Sprintf("db%03d", i)
		names = append(names, db)
		if _, err := primary.(*session).db.ExecContext(ctx, "CREATE DATABASE "+quoteIdent(db)); err != nil {
			b.Fatal(err)
		}
		path := joinServerPath(dir, db+".bak")
		if _, err := primary.Backup(ctx, engine.BackupRequest{Database: db, Kind: artifact.Full, ServerPath: path}, engine.NoProgress); err != nil {
			b.Fatal(err)
		}
		if err := target.Restore(ctx, engine.RestoreRequest{Database: db, Kind: artifact.Full, ServerPath: path, Mode: engine.NoRecovery}, engine.NoProgress); err != nil {
			b.Fatal(err)
		}
	}
	primary, target = openVia(sims[0], 2*time.Millisecond), openVia(sims[1], 2*time.Millisecond)
	since := time.Now().Add(-time.Hour)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := primary.ObservePrimary(ctx, names, since)
		if err != nil || len(p) != 100 || len(p[99].Backups) != 1 {
			b.Fatalf("observe primary: %v", err)
		}
		s, err := target.ObserveStandby(ctx, names)
		if err != nil || len(s) != 100 || s[99].State != engine.Restoring {
			b.Fatalf("observe standby: %v", err)
		}
	}
}

// slowLink forwards TCP to addr, holding each chunk the server sends for
// delay; it returns the address to dial.
func slowLink(b *testing.B, addr string, delay time.Duration) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(s, c); s.Close() }()
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := s.Read(buf)
					if n > 0 {
						time.Sleep(delay)
						if _, err := c.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}
