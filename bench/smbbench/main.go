// Command smbbench ships one file to one smb:// URL with internal/blob.Ship,
// as drsctl's apply does, and prints the wall time; bench/smb.sh runs it
// paired with `smbclient put`. -cpuprofile writes a pprof CPU profile.
//
//	smbbench -src FILE [-part BYTES] [-concurrency N] [-cpuprofile FILE] [-trace FILE] URL
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path"
	"runtime/pprof"
	"runtime/trace"
	"time"

	dblob "github.com/drsctl/drsctl/internal/blob"
	_ "github.com/drsctl/drsctl/internal/blob/smbblob"
)

func main() {
	src := flag.String("src", "", "file to ship")
	key := flag.String("key", "", "key to write (default: the source's base name)")
	part := flag.Int64("part", 0, "part size in bytes (0: drsctl's default)")
	conc := flag.Int("concurrency", 0, "parts in flight (0: drsctl's default)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	traceFile := flag.String("trace", "", "write a runtime trace to this file")
	flag.Parse()
	if *src == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: smbbench -src FILE [-key KEY] [-part N] [-concurrency N] [-cpuprofile FILE] URL")
		os.Exit(2)
	}
	if *key == "" {
		*key = path.Base(*src)
	}
	ctx := context.Background()
	b, err := dblob.Open(ctx, flag.Arg(0))
	exitIf(err)
	defer b.Close()
	f, err := os.Open(*src)
	exitIf(err)
	defer f.Close()
	if *cpuprofile != "" {
		pf, err := os.Create(*cpuprofile)
		exitIf(err)
		exitIf(pprof.StartCPUProfile(pf))
		defer pprof.StopCPUProfile()
	}
	if *traceFile != "" {
		tf, err := os.Create(*traceFile)
		exitIf(err)
		exitIf(trace.Start(tf))
		defer trace.Stop()
	}
	start := time.Now()
	size, sum, res, err := dblob.Ship(ctx, f, []dblob.Sink{{Bucket: b, Key: *key, PartSize: *part, Concurrency: *conc}}, nil)
	exitIf(err)
	exitIf(res[0].Err)
	d := time.Since(start)
	fmt.Printf("%d bytes in %.3fs: %.0f MB/s (sha256 %s)\n", size, d.Seconds(), float64(size)/1e6/d.Seconds(), sum)
}

func exitIf(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "smbbench:", err)
		os.Exit(1)
	}
}
