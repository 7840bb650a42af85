package cli

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/drsctl/drsctl/internal/apply"
	"github.com/drsctl/drsctl/internal/plan"
)

// Bars reports apply on a terminal: a line when an action starts, ends or is
// skipped, and a live progress bar, under those lines, for each running
// action that reports progress (backups and restores with STATS, shipping).
// Rendering (github.com/vbauerster/mpb) runs on its own goroutines; Progress
// only stores the latest percent and message, so it never waits for the
// terminal. Bars is safe for concurrent use. Call Close before printing
// anything else.
type Bars struct {
	// Width is the terminal's width in columns (default 100): a bar row
	// never takes more than Width-1 columns, so the terminal never wraps it.
	Width int
	// Height is how many bar rows may be drawn at once (default 20); more
	// running actions go on with their lines but no bar.
	Height int
	// RefreshRate is how often bars are redrawn (default 150ms).
	RefreshRate time.Duration

	w     io.Writer
	color bool

	mu      sync.Mutex
	p       *mpb.Progress // started by the first report, so fields can be set after NewBars
	cons    *console
	layout  barLayout
	rows    map[string]*barRow // action ID → its row
	closed  bool
	stopped bool         // rendering has ended: lines go straight to w
	late    []string     // lines that came while rendering was ending, printed by Close
	label   atomic.Int64 // width of the label column, shared by all bars so they line up
}

var _ apply.Reporter = (*Bars)(nil)

// NewBars returns bars that draw on w, which should be a terminal; color
// adds ANSI colors to the status words.
func NewBars(w io.Writer, color bool) *Bars {
	return &Bars{w: w, color: color, Width: 100, Height: 20, rows: map[string]*barRow{}}
}

// barRow is one action's bar; the renderer reads pct and msg when it draws.
type barRow struct {
	label string
	pct   atomic.Int64
	msg   atomic.Pointer[string]
	done  atomic.Bool // finished: later progress is ignored
	shown atomic.Bool // bar added

	mu  sync.Mutex // serializes adding and removing the bar
	bar *mpb.Bar
}

// barLayout is where a row's columns go.
type barLayout struct {
	width    int // columns a row may use
	bar      int // the bar, brackets included
	labelMax int // the widest the label column gets
	rest     int // label + message columns
}

const (
	pctCols = 4 // "100%"
	// a row: label " " bar " " pct " " message; mpb puts the spaces around the bar.
	rowSpaces = 3
	msgCols   = 21 // "1023.9 MiB of 1.6 GiB"
)

func newLayout(width int) barLayout {
	l := barLayout{width: max(width-1, 20)} // the last column would wrap on some terminals
	l.bar = min(max(l.width/5, 7), 32)
	l.rest = max(l.width-l.bar-pctCols-rowSpaces, 2)
	l.labelMax = max(l.rest-msgCols, l.rest/2, 1) // the message keeps msgCols when it can
	return l
}

// start starts rendering; b.mu is held.
func (b *Bars) start() {
	if b.p != nil {
		return
	}
	if b.rows == nil {
		b.rows = map[string]*barRow{}
	}
	width, height := b.Width, b.Height
	if width <= 0 {
		width = 100
	}
	if height <= 0 {
		height = 20
	}
	b.layout = newLayout(width)
	b.cons = &console{out: b.w, width: width, height: height}
	rate := b.RefreshRate
	if rate <= 0 {
		rate = 150 * time.Millisecond
	}
	b.p = mpb.New(mpb.WithConsoleWriter(b.cons), mpb.WithRefreshRate(rate), mpb.WithWidth(width))
}

// println prints a line above the bars (at the next redraw).
func (b *Bars) println(s string) {
	s = strings.ReplaceAll(s, doneMark, "\uFFFD") // only a finished bar's row holds it
	b.mu.Lock()
	if b.stopped || (b.closed && b.p == nil) {
		defer b.mu.Unlock()
		fmt.Fprintln(b.w, s) // nothing renders any more
		return
	}
	b.start()
	p := b.p
	b.mu.Unlock()
	if _, err := p.Write([]byte(s + "\n")); err == nil {
		return
	}
	// Rendering is ending (Close) or failed; its goroutine may still write
	// to w, so the line waits for Close.
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		fmt.Fprintln(b.w, s)
		return
	}
	b.late = append(b.late, s)
}

func (b *Bars) paint(code, s string) string {
	if !b.color {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// Started prints that a has started.
func (b *Bars) Started(a *plan.Action) {
	b.println(barLabel(a) + ": started")
}

// Progress updates a's bar, adding it on the first call.
func (b *Bars) Progress(a *plan.Action, percent int, message string) {
	percent = min(max(percent, 0), 100)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.start()
	r := b.rows[a.ID]
	if r == nil {
		r = &barRow{label: barLabel(a)}
		b.rows[a.ID] = r
	}
	b.mu.Unlock()
	if r.done.Load() {
		return
	}
	r.pct.Store(int64(percent))
	r.msg.Store(&message)
	if r.shown.Load() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done.Load() || r.bar != nil {
		return
	}
	b.addBar(r)
}

// addBar adds r's bar; r.mu is held.
func (b *Bars) addBar(r *barRow) {
	l := b.layout // set before any row exists
	lw := int64(min(runeCount(r.label), l.labelMax))
	for {
		cur := b.label.Load()
		if lw <= cur || b.label.CompareAndSwap(cur, lw) {
			break
		}
	}
	style := mpb.BarStyle()
	if b.color {
		style = style.FillerMeta(func(s string) string { return b.paint("36", s) }).
			TipMeta(func(s string) string { return b.paint("36", s) })
	}
	bar, err := b.p.Add(0, style.Build(), // total 0: only Close or Finished ends it
		mpb.BarWidth(l.bar),
		mpb.BarFillerMiddleware(func(base mpb.BarFiller) mpb.BarFiller {
			return mpb.BarFillerFunc(func(w io.Writer, st decor.Statistics) error {
				if r.done.Load() {
					// mpb draws an aborted bar once more before it drops
					// it, in the frame that prints its done line: the
					// console leaves marked rows out.
					_, err := io.WriteString(w, doneMark)
					return err
				}
				st.Total, st.Current = 100, r.pct.Load()
				return base.Fill(w, st)
			})
		}),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string {
			if r.done.Load() {
				return ""
			}
			return fit(r.label, int(b.label.Load()))
		})),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
			if r.done.Load() {
				return ""
			}
			s := fmt.Sprintf("%3d%%", r.pct.Load())
			if m := r.msg.Load(); m != nil && *m != "" {
				if w := l.rest - int(b.label.Load()); w > 0 {
					s += " " + truncate(humanBytes(*m), w)
				}
			}
			return s
		})),
	)
	if err != nil {
		return // rendering stopped (Close, or the terminal failed): lines only
	}
	r.bar = bar
	r.shown.Store(true)
}

// Finished removes o's bar and prints how it ended.
func (b *Bars) Finished(o *apply.Outcome) {
	a := o.Action
	b.mu.Lock()
	r := b.rows[a.ID]
	if r == nil && !b.closed {
		r = &barRow{} // remembered, so late progress adds no bar
		b.rows[a.ID] = r
	}
	b.mu.Unlock()
	if r != nil {
		r.drop()
	}
	el := o.Elapsed.Round(time.Millisecond)
	switch {
	case o.Err != nil:
		b.println(fmt.Sprintf("%s: %s after %s: %v", barLabel(a), b.paint("31", "failed"), el, o.Err))
	case o.Artifact != "" && (a.Kind == plan.BackupFull || a.Kind == plan.BackupLog):
		b.println(fmt.Sprintf("%s: %s in %s (%s)", barLabel(a), b.paint("32", "done"), el, o.Artifact))
	default:
		b.println(fmt.Sprintf("%s: %s in %s", barLabel(a), b.paint("32", "done"), el))
	}
}

// drop ends the row: its bar is removed at the next redraw.
func (r *barRow) drop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done.Store(true)
	if r.bar != nil {
		r.bar.Abort(true)
	}
}

// Skipped prints why a did not run.
func (b *Bars) Skipped(a *plan.Action, why string) {
	b.println(barLabel(a) + ": " + b.paint("33", why))
}

// Close removes the bars still running, prints every pending line and stops
// rendering. Reports after Close are printed as plain lines, without bars.
func (b *Bars) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	rows := make([]*barRow, 0, len(b.rows))
	for _, r := range b.rows {
		rows = append(rows, r)
	}
	p := b.p
	b.mu.Unlock()
	if p == nil {
		return // nothing was ever reported
	}
	for _, r := range rows {
		r.drop()
	}
	p.Wait() // all bars are aborted, so this returns after one more redraw
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	b.cons.final()
	for _, s := range b.late {
		fmt.Fprintln(b.w, s)
	}
	b.late = nil
}

// console is the mpb.ConsoleWriter: a buffer written to the terminal at
// each redraw, after moving up over (and erasing) the previous bars. Its
// size is given, not asked of the terminal. Only mpb's render goroutine
// uses it, then Close after that goroutine has ended.
type console struct {
	bytes.Buffer
	out           io.Writer
	width, height int
	rows          int // bar rows on screen, replaced at the next flush
}

func (c *console) IsTerminal() bool               { return true }
func (c *console) GetTermSize() (int, int, error) { return c.width, c.height, nil }

// doneMark marks the row of a bar whose action has finished (a Unicode
// noncharacter: no text drsctl prints holds it).
const doneMark = "\uFDD0"

// Flush writes the buffer (lines printed since the last redraw, then the
// bars) over the previous bars; lines is how many bar rows it ends with.
// Rows of finished actions are left out: their done line is printed, the
// bar must not be drawn under it.
func (c *console) Flush(lines int) error {
	if b := c.Bytes(); bytes.Contains(b, []byte(doneMark)) {
		var kept []byte
		for len(b) > 0 {
			row := b
			if i := bytes.IndexByte(b, '\n'); i >= 0 {
				row = b[:i+1]
			}
			b = b[len(row):]
			if bytes.Contains(row, []byte(doneMark)) {
				lines--
				continue
			}
			kept = append(kept, row...)
		}
		c.Reset()
		c.Write(kept)
	}
	err := c.write()
	c.rows = lines
	return err
}

func (c *console) write() error {
	var out []byte
	if c.rows > 0 {
		out = append(out, "\x1b["+strconv.Itoa(c.rows)+"A\x1b[J"...) // cursor up, erase below
	}
	out = append(out, c.Bytes()...)
	c.Reset()
	if len(out) == 0 {
		return nil
	}
	_, err := c.out.Write(out)
	return err
}

// final erases the last bars and writes whatever is left.
func (c *console) final() {
	c.write()
	c.rows = 0
}

// barLabel is "primary/database → target: verb".
func barLabel(a *plan.Action) string {
	s := a.Primary + "/" + a.Database
	if a.Target != "" {
		s += " → " + a.Target
	}
	return s + ": " + a.Verb()
}

func runeCount(s string) int { return utf8.RuneCountInString(s) }

// truncate shortens s to at most w columns, ending it with "…" if cut.
func truncate(s string, w int) string {
	if runeCount(s) <= w {
		return s
	}
	if w <= 1 {
		return string([]rune(s)[:max(w, 0)])
	}
	return string([]rune(s)[:w-1]) + "…"
}

// fit truncates or pads s to exactly w columns.
func fit(s string, w int) string {
	s = truncate(s, w)
	if n := runeCount(s); n < w {
		s += strings.Repeat(" ", w-n)
	}
	return s
}

// humanBytes shortens shipping's "N of M bytes" to "1.2 GiB of 3.4 GiB";
// any other message is returned as it is.
func humanBytes(msg string) string {
	f := strings.Fields(msg)
	if len(f) != 4 || f[1] != "of" || f[3] != "bytes" {
		return msg
	}
	n, err1 := strconv.ParseInt(f[0], 10, 64)
	m, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil {
		return msg
	}
	return iec(n) + " of " + iec(m)
}

func iec(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, i := float64(n), -1
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + string("KMGTP"[i]) + "iB"
}
