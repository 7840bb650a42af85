package config

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// RestoreWindow is one `restore_window` block of a target: the hours during
// which restores may start on a read-only reporting standby, so its readers
// are not disconnected at other times. Times are wall-clock times in the
// window's time zone, so a window stays 19:00–07:00 local time across
// daylight saving changes.
type RestoreWindow struct {
	// Days are the days on which the window opens, indexed by
	// time.Weekday: a window from 19:00 to 07:00 on Friday closes on
	// Saturday morning.
	Days [7]bool
	// From and To are minutes after local midnight. To <= From means the
	// window closes the next day (it crosses midnight); From == To is
	// refused when decoding.
	From, To int
	// Location is the time zone the times are read in; Zone its IANA name
	// as written ("UTC" when omitted).
	Location  *time.Location
	Zone      string
	DeclRange hcl.Range
}

// DefaultTimeZone is the time zone of a restore_window without time_zone.
const DefaultTimeZone = "UTC"

// RestoreWindows are a target's windows. None means restores may run at any
// time; several are a union (say, weeknights and the whole weekend).
type RestoreWindows []RestoreWindow

// Span is a stretch of time [Start, End).
type Span struct{ Start, End time.Time }

// Open reports whether a restore may start at t.
func (ws RestoreWindows) Open(t time.Time) bool {
	if len(ws) == 0 {
		return true
	}
	for _, s := range ws.spans(t.Add(-48*time.Hour), t.Add(48*time.Hour)) {
		if !t.Before(s.Start) && t.Before(s.End) {
			return true
		}
	}
	return false
}

// NextOpen returns when restores may next start: t itself when a window is
// open at t. Windows repeat every week, so one is always found.
func (ws RestoreWindows) NextOpen(t time.Time) time.Time {
	if len(ws) == 0 {
		return t
	}
	for _, s := range ws.spans(t.Add(-48*time.Hour), t.Add(9*24*time.Hour)) {
		if s.End.After(t) {
			if s.Start.After(t) {
				return s.Start
			}
			return t
		}
	}
	return t // unreachable for decoded windows: every window has a day
}

// LongestClosed is the longest stretch, within the span of a year from
// start, during which no window is open: how long restores can be held
// back, whatever else happens. It is measured in real time, so a stretch
// across the night the clocks go back is an hour longer than on the wall.
func (ws RestoreWindows) LongestClosed(start time.Time) Span {
	var longest Span
	spans := ws.spans(start, start.Add(366*24*time.Hour))
	for i := 1; i < len(spans); i++ {
		gap := Span{Start: spans[i-1].End, End: spans[i].Start}
		if gap.End.Sub(gap.Start) > longest.End.Sub(longest.Start) {
			longest = gap
		}
	}
	return longest
}

// spans returns the windows' occurrences that overlap [from, to), merged
// where they overlap or touch, in order.
func (ws RestoreWindows) spans(from, to time.Time) []Span {
	var all []Span
	for _, w := range ws {
		loc := w.Location
		if loc == nil {
			loc = time.UTC
		}
		// An occurrence lasts less than a day (a little more across a DST
		// change), so one that overlaps [from, to) opens at most a day
		// before from.
		day := from.In(loc).AddDate(0, 0, -1)
		y, m, d := day.Date()
		for i := 0; ; i++ {
			startDay := time.Date(y, m, d+i, 0, 0, 0, 0, loc)
			if startDay.After(to) {
				break
			}
			if !w.Days[startDay.Weekday()] {
				continue
			}
			s := time.Date(y, m, d+i, w.From/60, w.From%60, 0, 0, loc)
			endDay := d + i
			if w.To <= w.From {
				endDay++
			}
			e := time.Date(y, m, endDay, w.To/60, w.To%60, 0, 0, loc)
			// A wall time the clocks skip that day may land after the
			// end: that occurrence has no time left, so it is not one.
			if !e.After(s) || !e.After(from) || !s.Before(to) {
				continue
			}
			all = append(all, Span{Start: s, End: e})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Start.Before(all[j].Start) })
	var merged []Span
	for _, s := range all {
		if n := len(merged); n > 0 && !s.Start.After(merged[n-1].End) {
			if s.End.After(merged[n-1].End) {
				merged[n-1].End = s.End
			}
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

// String describes the windows for messages, e.g. `mon-fri 19:00-07:00
// Europe/Berlin`.
func (ws RestoreWindows) String() string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = w.String()
	}
	return strings.Join(parts, ", ")
}

func (w RestoreWindow) String() string {
	return fmt.Sprintf("%s %s-%s %s", daysString(w.Days), clock(w.From), clock(w.To), w.Zone)
}

func clock(minutes int) string { return fmt.Sprintf("%02d:%02d", minutes/60, minutes%60) }

// dayNames are the day names restore_window accepts, indexed by
// time.Weekday.
var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// daysString writes days back compactly, Monday first: "mon-fri", "sat,sun",
// "every day".
func daysString(days [7]bool) string {
	all := true
	for _, on := range days {
		all = all && on
	}
	if all {
		return "every day"
	}
	var parts []string
	for i := 0; i < 7; {
		wd := (i + 1) % 7 // Monday first
		if !days[wd] {
			i++
			continue
		}
		j := i
		for j+1 < 7 && days[(j+2)%7] {
			j++
		}
		switch {
		case j == i:
			parts = append(parts, dayNames[wd])
		case j == i+1:
			parts = append(parts, dayNames[wd], dayNames[(j+1)%7])
		default:
			parts = append(parts, dayNames[wd]+"-"+dayNames[(j+1)%7])
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// parseDays reads one element of days: a day ("mon") or a range of days
// ("mon-fri", "fri-mon" across the weekend), any case.
func parseDays(s string) ([7]bool, error) {
	var days [7]bool
	first, last, isRange := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "-")
	a, err := parseDay(first)
	if err != nil {
		return days, err
	}
	b := a
	if isRange {
		if b, err = parseDay(last); err != nil {
			return days, err
		}
	}
	for d := a; ; d = (d + 1) % 7 {
		days[d] = true
		if d == b {
			break
		}
	}
	return days, nil
}

func parseDay(s string) (int, error) {
	s = strings.TrimSpace(s)
	for i, n := range dayNames {
		if s == n || s == fullDayNames[i] {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%q is not a day: write mon, tue, wed, thu, fri, sat or sun (or the whole name), or a range such as mon-fri.%s",
		s, didYouMean(s, append(slices.Clone(dayNames), fullDayNames...)))
}

// fullDayNames are also accepted, written out ("monday"), indexed by
// time.Weekday.
var fullDayNames = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

// parseClock reads a 24-hour wall-clock time "HH:MM" into minutes after
// midnight.
func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 || !digits(h) || !digits(m) {
		return 0, fmt.Errorf("%q is not a time of day: write 24-hour HH:MM, such as \"07:00\" or \"19:30\"", s)
	}
	hh, mm := atoi(h), atoi(m)
	if hh > 23 || mm > 59 {
		return 0, fmt.Errorf("%q is not a time of day: hours go from 00 to 23 and minutes from 00 to 59 (midnight is \"00:00\")", s)
	}
	return hh*60 + mm, nil
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// NextOpenText says when restores may next start, for plans and apply's
// messages: "19:00 CET (in 3h12m)", with the day when it is not today in
// the window's zone ("Mon 19:00 CET (in 2d11h)").
func (ws RestoreWindows) NextOpenText(now time.Time) string {
	at := ws.NextOpen(now)
	local := now.In(at.Location())
	layout := "15:04 MST"
	if y, m, d := local.Date(); at.Year() != y || at.Month() != m || at.Day() != d {
		layout = "Mon 15:04 MST"
	}
	// Rounded up: "in 0s" would say it is open.
	wait := (at.Sub(now) + time.Minute - 1).Truncate(time.Minute)
	return fmt.Sprintf("%s (in %s)", at.Format(layout), formatDuration(wait))
}
