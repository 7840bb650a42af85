// Command pgtool measures drsctl's PostgreSQL engine for bench/pg.sh.
//
//	pgtool lag -primary DSN -standby DSN [-duration 3m] [-write-every 200ms] [-poll-every 100ms]
//	pgtool basebackup -primary DSN (-out FILE | -folder URL -key KEY)
//
// lag: a writer commits one row into bench_lag (which must exist on both
// servers) every -write-every for -duration and notes when each COMMIT
// returned; a reader polls the standby every -poll-every and notes when each
// row first shows there (the start of the poll that saw it: a row is visible
// no later than that). The lag of a row is the difference, both times read
// from this process's monotonic clock. After the writer stops, the reader
// waits up to -drain for the rows not seen yet. Prints the distribution and
// a CSV of every row with -csv.
//
// basebackup: drsctl's base backup (internal/engine/postgres/basebackup.Take,
// what a full backup streams into the backup folder) into FILE, fsynced, or
// into KEY of a backup folder through internal/blob.Create as drsctl's
// apply streams it (internal/apply's folder sink: a pipe into the store's
// writer); and its throughput.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"gocloud.dev/blob"

	dblob "github.com/drsctl/drsctl/internal/blob"
	"github.com/drsctl/drsctl/internal/engine/postgres/basebackup"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: pgtool lag|basebackup -h")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "lag":
		err = lag(os.Args[2:])
	case "basebackup":
		err = baseBackup(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: lag or basebackup", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtool:", err)
		os.Exit(1)
	}
}

func lag(args []string) error {
	fs := flag.NewFlagSet("lag", flag.ExitOnError)
	primary := fs.String("primary", "", "the primary's libpq URL")
	standby := fs.String("standby", "", "the standby's libpq URL")
	duration := fs.Duration("duration", 3*time.Minute, "how long the writer writes")
	writeEvery := fs.Duration("write-every", 200*time.Millisecond, "one committed row this often")
	pollEvery := fs.Duration("poll-every", 100*time.Millisecond, "the standby is read this often")
	drain := fs.Duration("drain", 90*time.Second, "after the writer stops, how long to wait for the rows not seen yet")
	csvPath := fs.String("csv", "", "write id,commit_s,visible_s,lag_s for every row here")
	_ = fs.Parse(args)
	if *primary == "" || *standby == "" {
		return errors.New("lag needs -primary and -standby")
	}
	ctx := context.Background()
	w, err := pgx.Connect(ctx, *primary)
	if err != nil {
		return fmt.Errorf("connect to the primary: %w", err)
	}
	defer w.Close(ctx)
	var start int64
	if err := w.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM bench_lag`).Scan(&start); err != nil {
		return fmt.Errorf("bench_lag on the primary: %w", err)
	}

	t0 := time.Now()
	var mu sync.Mutex
	committed := map[int64]time.Duration{} // since t0
	visible := map[int64]time.Duration{}
	var lastID int64
	writerDone := make(chan error, 1)
	go func() {
		tick := time.NewTicker(*writeEvery)
		defer tick.Stop()
		id := start
		for time.Since(t0) < *duration {
			<-tick.C
			id++
			if _, err := w.Exec(ctx, `INSERT INTO bench_lag (id, committed_at) VALUES ($1, clock_timestamp())`, id); err != nil {
				writerDone <- fmt.Errorf("insert row %d on the primary: %w", id, err)
				return
			}
			at := time.Since(t0)
			mu.Lock()
			committed[id], lastID = at, id
			mu.Unlock()
		}
		writerDone <- nil
	}()

	var r *pgx.Conn
	defer func() {
		if r != nil {
			r.Close(ctx)
		}
	}()
	seenMax := start
	var writerErr error
	writing := true
	var stopAt time.Time
	reconnects := 0
	poll := time.NewTicker(*pollEvery)
	defer poll.Stop()
	for {
		if writing {
			select {
			case writerErr = <-writerDone:
				writing, stopAt = false, time.Now()
			default:
			}
		}
		mu.Lock()
		last := lastID
		mu.Unlock()
		if !writing && (seenMax >= last || time.Since(stopAt) > *drain) {
			break
		}
		<-poll.C
		if r == nil {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			r, err = pgx.Connect(cctx, *standby)
			cancel()
			if err != nil {
				r = nil
				reconnects++
				continue
			}
		}
		at := time.Since(t0)
		rows, err := r.Query(ctx, `SELECT id FROM bench_lag WHERE id > $1 ORDER BY id`, seenMax)
		var ids []int64
		if err == nil {
			ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		}
		if err != nil {
			r.Close(ctx)
			r = nil
			reconnects++
			continue
		}
		mu.Lock()
		for _, id := range ids {
			visible[id] = at
			seenMax = max(seenMax, id)
		}
		mu.Unlock()
	}
	if writerErr != nil {
		return writerErr
	}

	var lags []time.Duration
	missing := 0
	var csv strings.Builder
	csv.WriteString("id,commit_s,visible_s,lag_s\n")
	for id := start + 1; id <= lastID; id++ {
		c := committed[id]
		v, ok := visible[id]
		if !ok {
			missing++
			continue
		}
		// A row seen by a poll that started before its COMMIT returned
		// (the commit reply was on its way): no lag.
		l := max(v-c, 0)
		lags = append(lags, l)
		fmt.Fprintf(&csv, "%d,%.3f,%.3f,%.3f\n", id, c.Seconds(), v.Seconds(), l.Seconds())
	}
	if *csvPath != "" {
		if err := os.WriteFile(*csvPath, []byte(csv.String()), 0o644); err != nil {
			return err
		}
	}
	slices.Sort(lags)
	q := func(p float64) time.Duration {
		if len(lags) == 0 {
			return 0
		}
		return lags[min(len(lags)-1, int(p*float64(len(lags))))]
	}
	fmt.Printf("rows %d committed, %d seen on the standby, %d never seen (reader reconnects: %d)\n", lastID-start, len(lags), missing, reconnects)
	if len(lags) > 0 {
		fmt.Printf("lag p50 %.1fs  p95 %.1fs  p99 %.1fs  max %.1fs  min %.1fs\n",
			q(0.50).Seconds(), q(0.95).Seconds(), q(0.99).Seconds(), lags[len(lags)-1].Seconds(), lags[0].Seconds())
	}
	if missing > 0 {
		return fmt.Errorf("%d rows committed on the primary never showed on the standby within %s of the writer's end", missing, *drain)
	}
	return nil
}

func baseBackup(args []string) error {
	fs := flag.NewFlagSet("basebackup", flag.ExitOnError)
	primary := fs.String("primary", "", "the primary's libpq URL")
	out := fs.String("out", "", "the artifact file to write")
	folder := fs.String("folder", "", "a backup folder URL (file://DIR, …) to stream into instead, as apply does")
	key := fs.String("key", "bench/base.tar", "the key in -folder")
	_ = fs.Parse(args)
	if *primary == "" || (*out == "") == (*folder == "") {
		return errors.New("basebackup needs -primary and one of -out or -folder")
	}
	u, err := url.Parse(*primary)
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("replication", "database")
	u.RawQuery = q.Encode()
	ctx := context.Background()
	conn, err := pgconn.Connect(ctx, u.String())
	if err != nil {
		return fmt.Errorf("replication connection to the primary: %w", err)
	}
	defer conn.Close(ctx)
	sink := func() (io.WriteCloser, error) {
		f, err := os.Create(*out)
		if err != nil {
			return nil, err
		}
		return syncCloser{f}, nil
	}
	if *folder != "" {
		b, err := dblob.Open(ctx, *folder)
		if err != nil {
			return err
		}
		defer b.Close()
		sink = func() (io.WriteCloser, error) {
			pr, pw := io.Pipe()
			done := make(chan error, 1)
			go func() {
				err := dblob.Create(ctx, b, *key, pr, &blob.WriterOptions{ContentType: "application/octet-stream", BufferSize: dblob.DefaultPartSize})
				pr.CloseWithError(errors.Join(err, io.ErrClosedPipe))
				done <- err
			}()
			return &pipeSink{pw: pw, done: done}, nil
		}
	}
	t0 := time.Now()
	res, err := basebackup.Take(ctx, conn, "drsctl bench", sink)
	if err != nil {
		return err
	}
	secs := time.Since(t0).Seconds()
	fmt.Printf("drsctl basebackup.Take: %d bytes in %.2fs = %.0f MB/s (%s to %s)\n", res.Size, secs, float64(res.Size)/secs/1e6, res.StartLSN, res.EndLSN)
	return nil
}

// pipeSink ends the stream on Close and waits until the store has it.
type pipeSink struct {
	pw   *io.PipeWriter
	done chan error
}

func (p *pipeSink) Write(b []byte) (int, error) { return p.pw.Write(b) }
func (p *pipeSink) Close() error {
	_ = p.pw.Close()
	return <-p.done
}

// syncCloser makes the file durable before Take counts the backup done, as
// drsctl's file:// backup folder does (pg_basebackup fsyncs too).
type syncCloser struct{ f *os.File }

func (s syncCloser) Write(p []byte) (int, error) { return s.f.Write(p) }
func (s syncCloser) Close() error                { return errors.Join(s.f.Sync(), s.f.Close()) }
