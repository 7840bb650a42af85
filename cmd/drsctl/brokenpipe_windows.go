package main

import (
	"errors"
	"syscall"
)

// errorNoData is ERROR_NO_DATA, "The pipe is being closed", what a write
// to a pipe whose reader closed its end returns on Windows.
const errorNoData = syscall.Errno(232)

// isBrokenPipe reports whether err is a write to a pipe nobody reads.
func isBrokenPipe(err error) bool {
	return errors.Is(err, syscall.ERROR_BROKEN_PIPE) || errors.Is(err, errorNoData) || errors.Is(err, syscall.EPIPE)
}
