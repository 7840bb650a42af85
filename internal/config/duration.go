package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

const day = 24 * time.Hour

// ParseDuration parses a Go duration ("90s", "15m", "1h30m") extended with
// days ("7d", "1d12h", "1.5d"). A day is always 24 hours: schedules and
// retention are about elapsed time, not calendar days. A sign is accepted
// (callers decide whether negative values make sense); "0" is zero.
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	if s == "" {
		return 0, errors.New(`invalid duration "": empty`)
	}
	neg := false
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "0" {
		return 0, nil
	}
	if s == "" {
		return 0, fmt.Errorf("invalid duration %q: no number", orig)
	}
	var total time.Duration
	for s != "" {
		// One component: a number (with an optional fraction) and a unit.
		i := 0
		for i < len(s) && (s[i] == '.' || ('0' <= s[i] && s[i] <= '9')) {
			i++
		}
		num := s[:i]
		j := i
		for j < len(s) && s[j] != '.' && (s[j] < '0' || s[j] > '9') {
			j++
		}
		unit := s[i:j]
		s = s[j:]
		if num == "" || num == "." {
			return 0, fmt.Errorf("invalid duration %q: expected a number before %q", orig, unit)
		}
		if unit == "" {
			return 0, fmt.Errorf("invalid duration %q: missing unit after %s (use s, m, h or d)", orig, num)
		}
		var part time.Duration
		if unit == "d" {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("invalid duration %q: bad number %q", orig, num)
			}
			hours := f * float64(day)
			if hours >= math.MaxInt64 {
				return 0, fmt.Errorf("invalid duration %q: too long", orig)
			}
			part = time.Duration(hours)
		} else {
			d, err := time.ParseDuration(num + unit)
			if err != nil {
				if strings.Contains(err.Error(), "unknown unit") {
					return 0, fmt.Errorf("invalid duration %q: unknown unit %q (use ns, us, ms, s, m, h or d)", orig, unit)
				}
				return 0, fmt.Errorf("invalid duration %q: bad number %q", orig, num)
			}
			part = d
		}
		if total > math.MaxInt64-part {
			return 0, fmt.Errorf("invalid duration %q: too long", orig)
		}
		total += part
	}
	if neg {
		total = -total
	}
	return total, nil
}

// formatDuration renders a duration the way operators write them, using days
// when the duration is a whole number of them ("7d", "1d12h", "15m").
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	sign := ""
	if d < 0 {
		sign = "-"
		d = -d
	}
	days := d / day
	rest := d % day
	if days == 0 {
		return sign + trimDuration(rest)
	}
	if rest == 0 {
		return fmt.Sprintf("%s%dd", sign, days)
	}
	return fmt.Sprintf("%s%dd%s", sign, days, trimDuration(rest))
}

// trimDuration drops zero minute/second components Go prints ("1h0m0s" → "1h").
func trimDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
