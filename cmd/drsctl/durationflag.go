package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// durationValue is a flag.Value for durations whose errors say what to type:
// flag.Duration answers "-lock-timeout 5" with a bare "parse error".
type durationValue time.Duration

func (d *durationValue) String() string { return time.Duration(*d).String() }

func (d *durationValue) Set(s string) error {
	v, err := parseDurationFlag(s)
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

// parseDurationFlag parses a Go duration (5s, 2m, 1h30m) and explains a
// missing or unknown unit. The flag package prefixes the error with
// `invalid value "5" for flag -lock-timeout: `.
func parseDurationFlag(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New("a duration is required, e.g. 30s or 5m")
	}
	if _, err := strconv.ParseFloat(t, 64); err == nil && t != "0" {
		return 0, fmt.Errorf("a duration needs a unit, e.g. %ss or %sm", t, t)
	}
	v, err := time.ParseDuration(t)
	if err != nil {
		return 0, errors.New("not a duration; use a number and a unit (ms, s, m, h), e.g. 30s, 5m or 1h30m")
	}
	if v < 0 {
		return 0, errors.New("a duration cannot be negative")
	}
	return v, nil
}

// durationFlag defines a duration flag with durationValue's errors.
func durationFlag(fs *flag.FlagSet, name string, value time.Duration, usage string) *time.Duration {
	p := new(time.Duration)
	*p = value
	fs.Var((*durationValue)(p), name, usage)
	return p
}
