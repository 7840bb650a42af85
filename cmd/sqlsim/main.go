// Command sqlsim runs one TDS-speaking SQL Server simulator (see package
// internal/engine/sqlserver/sqlsim) until SIGINT or SIGTERM:
//
//	go run ./cmd/sqlsim -addr 127.0.0.1:14330 -data DIR [-password PW] [-lsn-base N]
//
// Several can run side by side on different ports and data directories.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:14330", "host:port to listen on (port 0 picks a free one)")
	data := flag.String("data", "", "directory for the simulator's persisted state (required)")
	password := flag.String("password", "", `password for login "sa" ("" accepts any)`)
	lsnBase := flag.String("lsn-base", "", "decimal starting LSN of new databases (default 34000000001600001)")
	name := flag.String("name", "SQLSIM", "server name (@@SERVERNAME)")
	stepDelay := flag.Duration("step-delay", 0, "pause between BACKUP/RESTORE progress steps")
	verbose := flag.Bool("v", false, "log every statement-level event")
	flag.Parse()
	if *data == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: sqlsim -addr HOST:PORT -data DIR [-password PW] [-lsn-base N] [-name NAME]")
		os.Exit(2)
	}
	logger := log.New(os.Stderr, "", log.LstdFlags)
	opts := sqlsim.Options{
		Addr:      *addr,
		DataDir:   *data,
		Password:  *password,
		LSNBase:   *lsnBase,
		Name:      *name,
		StepDelay: *stepDelay,
	}
	if *verbose {
		opts.Logf = logger.Printf
	}
	srv, err := sqlsim.Start(opts)
	if err != nil {
		logger.Fatalf("sqlsim: %v", err)
	}
	if !*verbose {
		logger.Printf("sqlsim %s listening on %s (data in %s)", *name, srv.Addr(), *data)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	logger.Printf("sqlsim: %v received, stopping", s)
	done := make(chan error, 1)
	go func() { done <- srv.Close() }()
	select {
	case err := <-done:
		if err != nil {
			logger.Printf("sqlsim: close: %v", err)
		}
	case <-time.After(10 * time.Second):
		logger.Printf("sqlsim: sessions did not end in 10s; exiting")
		os.Exit(1)
	}
}
