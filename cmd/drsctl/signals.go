package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// errOutputClosed is the cause of the cancellation when a reader of
// drsctl's output went away (drsctl plan | head).
var errOutputClosed = errors.New("standard output or error was closed (broken pipe): drsctl stopped as on Ctrl-C")

// withSignals returns a context that ends on Ctrl-C (SIGINT), SIGTERM and
// SIGHUP (the terminal went away; not when started under nohup, which
// ignores it), and the cancel function for an output whose reader is gone.
//
// SIGPIPE is handled, never acted on: unhandled, Go's runtime kills the
// process when a write to standard output or error finds the pipe's reader
// gone, leaving the state lock behind for whoever comes next, and actions
// in flight unrecorded. Handled, such a write fails with EPIPE, which
// stopOnBrokenPipe turns into a cancellation. The signal itself says
// nothing about which descriptor broke (a network connection raises it
// too), so it is received and ignored: the channel is never read, and
// package signal drops what does not fit in it.
func withSignals() (context.Context, context.CancelCauseFunc, func()) {
	base, cancel := context.WithCancelCause(context.Background())
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	ctx, stop := signal.NotifyContext(base, sigs...)
	pipe := make(chan os.Signal, 1)
	signal.Notify(pipe, syscall.SIGPIPE)
	return ctx, cancel, func() {
		signal.Stop(pipe)
		stop()
		cancel(nil)
	}
}

// stopOnBrokenPipe is an output that cancels the run, once, when a write
// finds its reader gone. Apply then stops as on Ctrl-C: it starts nothing
// more, abandons what is in flight, records what completed, releases the
// lock and exits non-zero. Letting it run on instead would hide its
// failures from everyone: its report has nowhere to go.
type stopOnBrokenPipe struct {
	w      io.Writer
	cancel context.CancelCauseFunc
	once   sync.Once
}

func (s *stopOnBrokenPipe) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err != nil && isBrokenPipe(err) {
		s.once.Do(func() { s.cancel(errOutputClosed) })
	}
	return n, err
}
