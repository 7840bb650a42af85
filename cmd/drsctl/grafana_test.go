package main

// examples/grafana: the dashboard is checked as Grafana would import it (the
// dashboard model's fields, panels with queries, one datasource variable so
// it imports into any Grafana), and each panel's PromQL is read by a small
// tokenizer so that every metric and label it names is one drsctl exports
// (cli.PrometheusMetrics, the list the exporter itself writes through). The
// cron entry that feeds it is run with the real drsctl against a textfile
// directory, as node_exporter's textfile collector would read it.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/drsctl/drsctl/internal/cli"
)

var grafanaDir = filepath.Join(examplesDir, "grafana")

// textfileMetrics are the metrics node_exporter's textfile collector adds
// about the files it reads (not drsctl's, but how the dashboard knows that
// drsctl's figures are fresh), with their labels.
var textfileMetrics = map[string][]string{"node_textfile_mtime_seconds": {"file"}}

// exportedLabels maps each metric the dashboard may use to its labels.
func exportedLabels() map[string][]string {
	m := map[string][]string{}
	for _, pm := range cli.PrometheusMetrics() {
		m[pm.Name] = pm.Labels
	}
	for name, ls := range textfileMetrics {
		m[name] = ls
	}
	return m
}

// ---- a small PromQL reader ----

var (
	promAggregators = set("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio")
	promFunctions   = set("abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "day_of_month", "day_of_week",
		"day_of_year", "days_in_month", "delta", "deriv", "exp", "floor", "histogram_quantile", "hour", "idelta", "increase", "irate",
		"label_join", "label_replace", "ln", "log2", "log10", "minute", "month", "predict_linear", "rate", "resets", "round", "scalar",
		"sgn", "sort", "sort_desc", "sqrt", "time", "timestamp", "vector", "year", "avg_over_time", "min_over_time", "max_over_time",
		"sum_over_time", "count_over_time", "quantile_over_time", "stddev_over_time", "stdvar_over_time", "last_over_time", "present_over_time")
	promGrouping = set("by", "without", "on", "ignoring", "group_left", "group_right")
	promKeywords = set("bool", "and", "or", "unless", "offset", "inf", "nan")
)

func set(words ...string) map[string]bool {
	m := map[string]bool{}
	for _, w := range words {
		m[w] = true
	}
	return m
}

type promTok struct {
	kind string // ident, string, duration, number, var, op, range
	text string
}

var promTokRe = regexp.MustCompile(`^(?:` +
	`(?P<space>\s+)|` +
	`(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)|` +
	`(?P<duration>(?:[0-9]+(?:ms|[smhdwy]))+)|` +
	`(?P<number>[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)|` +
	`(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`" + `)|` +
	`(?P<var>\$\{[A-Za-z0-9_:.]+\}|\$[A-Za-z0-9_]+)|` +
	`(?P<range>\[[^\]]*\])|` +
	`(?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=(){},]))`)

func promTokens(expr string) ([]promTok, error) {
	var toks []promTok
	for rest := expr; rest != ""; {
		m := promTokRe.FindStringSubmatchIndex(rest)
		if m == nil {
			return nil, fmt.Errorf("cannot read %q", rest)
		}
		for i, name := range promTokRe.SubexpNames() {
			if i > 0 && m[2*i] >= 0 && name != "space" {
				toks = append(toks, promTok{name, rest[m[2*i]:m[2*i+1]]})
			}
		}
		rest = rest[m[1]:]
	}
	return toks, nil
}

// promMatcher is one label matcher of a selector.
type promMatcher struct{ metric, label, op, value string }

// promQuery is what a PromQL expression names.
type promQuery struct {
	metrics  []string
	matchers []promMatcher
	grouping []string // labels of by/without/on/ignoring/group_x
	vars     []string // Grafana variables ($x, ${x})
}

// readPromQL extracts the metrics, matchers, grouping labels and variables of
// an expression, and refuses what it cannot account for: an unknown function,
// a selector without a metric name, unbalanced brackets.
func readPromQL(expr string) (promQuery, error) {
	var q promQuery
	toks, err := promTokens(expr)
	if err != nil {
		return q, err
	}
	next := func(i int) promTok {
		if i+1 < len(toks) {
			return toks[i+1]
		}
		return promTok{}
	}
	depth := 0
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.kind == "var":
			q.vars = append(q.vars, strings.Trim(t.text, "${}"))
		case t.kind == "range":
			for _, v := range regexp.MustCompile(`\$\{?([A-Za-z0-9_]+)`).FindAllStringSubmatch(t.text, -1) {
				q.vars = append(q.vars, v[1])
			}
		case t.kind == "op" && t.text == "(":
			depth++
		case t.kind == "op" && t.text == ")":
			if depth--; depth < 0 {
				return q, fmt.Errorf("a ) without its (")
			}
		case t.kind == "op" && t.text == "{":
			return q, fmt.Errorf("a selector without a metric name")
		case t.kind == "op" && t.text == "}":
			return q, fmt.Errorf("a } without its {")
		case t.kind != "ident":
		case promGrouping[t.text]:
			if next(i).text != "(" {
				if strings.HasPrefix(t.text, "group_") {
					continue
				}
				return q, fmt.Errorf("%s without its label list", t.text)
			}
			i += 2
			for ; i < len(toks) && toks[i].text != ")"; i++ {
				switch toks[i].kind {
				case "ident":
					q.grouping = append(q.grouping, toks[i].text)
				case "op":
					if toks[i].text != "," {
						return q, fmt.Errorf("%q in %s's label list", toks[i].text, t.text)
					}
				default:
					return q, fmt.Errorf("%q in %s's label list", toks[i].text, t.text)
				}
			}
			if i == len(toks) {
				return q, fmt.Errorf("%s's label list is not closed", t.text)
			}
		case promAggregators[t.text] && (next(i).text == "(" || promGrouping[next(i).text]):
		case next(i).text == "(":
			if !promFunctions[t.text] {
				return q, fmt.Errorf("%s( is not a PromQL function", t.text)
			}
		case promKeywords[strings.ToLower(t.text)]:
		default: // a metric name, perhaps with its matchers
			q.metrics = append(q.metrics, t.text)
			if next(i).text != "{" {
				continue
			}
			i += 2
			for ; i < len(toks) && toks[i].text != "}"; i++ {
				if toks[i].text == "," {
					continue
				}
				if i+2 >= len(toks) || toks[i].kind != "ident" || toks[i+1].kind != "op" || !set("=", "!=", "=~", "!~")[toks[i+1].text] || toks[i+2].kind != "string" {
					return q, fmt.Errorf("a matcher of %s is not label op \"value\"", t.text)
				}
				value := toks[i+2].text[1 : len(toks[i+2].text)-1]
				q.matchers = append(q.matchers, promMatcher{t.text, toks[i].text, toks[i+1].text, value})
				i += 2
			}
			if i == len(toks) {
				return q, fmt.Errorf("the selector of %s is not closed", t.text)
			}
		}
	}
	if depth != 0 {
		return q, fmt.Errorf("a ( without its )")
	}
	return q, nil
}

// grafanaVar is a dashboard variable: its name, the label its values come
// from (label_values(metric, label)), whether it can take several values.
type grafanaVar struct {
	label string
	multi bool
}

var labelValuesRe = regexp.MustCompile(`^label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)$`)

// grafanaBuiltins are the variables Grafana defines itself.
var grafanaBuiltins = set("__interval", "__rate_interval", "__range", "__range_s", "__interval_ms")

// checkPromQL checks one query of the dashboard against what drsctl exports
// and the dashboard's variables; legend is its legendFormat.
func checkPromQL(expr, legend string, vars map[string]grafanaVar) (promQuery, []error) {
	exported := exportedLabels()
	q, err := readPromQL(expr)
	if err != nil {
		return q, []error{err}
	}
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	if len(q.metrics) == 0 {
		bad("names no metric")
	}
	var common []string // the labels every metric of the query carries
	for i, m := range q.metrics {
		ls, ok := exported[m]
		if !ok {
			bad("%s is not a metric drsctl exports", m)
			continue
		}
		if i == 0 {
			common = slices.Clone(ls)
		} else {
			common = slices.DeleteFunc(common, func(l string) bool { return !slices.Contains(ls, l) })
		}
	}
	for _, mt := range q.matchers {
		if ls, ok := exported[mt.metric]; ok && !slices.Contains(ls, mt.label) {
			bad("%s{%s…}: drsctl's %s has no label %q (it has %q)", mt.metric, mt.label, mt.metric, mt.label, ls)
		}
		for _, v := range regexp.MustCompile(`\$\{?([A-Za-z0-9_]+)\}?`).FindAllStringSubmatch(mt.value, -1) {
			gv, ok := vars[v[1]]
			switch {
			case !ok:
				if !grafanaBuiltins[v[1]] {
					bad("%s{%s%s%q}: $%s is not a variable of the dashboard", mt.metric, mt.label, mt.op, mt.value, v[1])
				}
			case gv.label != mt.label:
				bad("%s{%s%s%q}: $%s holds values of the label %q", mt.metric, mt.label, mt.op, mt.value, v[1], gv.label)
			case gv.multi && mt.op != "=~" && mt.op != "!~":
				bad("%s{%s%s%q}: $%s takes several values (a regular expression): match it with =~", mt.metric, mt.label, mt.op, mt.value, v[1])
			}
		}
	}
	for _, g := range q.grouping {
		if !slices.Contains(common, g) {
			bad("groups by %q, which not every metric of the query carries (they all carry %q)", g, common)
		}
	}
	for _, v := range q.vars {
		if _, ok := vars[v]; !ok && !grafanaBuiltins[v] {
			bad("$%s is not a variable of the dashboard", v)
		}
	}
	shown := common
	if len(q.grouping) > 0 {
		shown = q.grouping
	}
	for _, m := range regexp.MustCompile(`\{\{\s*([^}\s]+)\s*\}\}`).FindAllStringSubmatch(legend, -1) {
		if !slices.Contains(shown, m[1]) {
			bad("the legend shows {{%s}}, which the query's series do not carry (they carry %q)", m[1], shown)
		}
	}
	return q, errs
}

// The reader and the checks have teeth: each of these mistakes is caught.
func TestGrafana_PromQLCheckRefusesMistakes(t *testing.T) {
	vars := map[string]grafanaVar{"target": {"target", true}, "primary": {"primary", true}, "one": {"target", false}}
	for expr, want := range map[string]string{
		`drsctl_rpo_lag{target=~"$target"}`:                                        "not a metric drsctl exports",
		`sum(drsctl_rpo_breach{instance="a"})`:                                     `no label "instance"`,
		`drsctl_log_backup_age_seconds{target=~"$target"}`:                         `no label "target"`,
		`sum by (host) (drsctl_rpo_breach)`:                                        `groups by "host"`,
		`sum by (target) (drsctl_rpo_breach) / on(target) drsctl_log_backup_alert`: `groups by "target"`,
		`drsctl_rpo_breach{primary=~"$target"}`:                                    `holds values of the label "target"`,
		`drsctl_rpo_breach{target="$target"}`:                                      "match it with =~",
		`drsctl_rpo_breach{target=~"$nope"}`:                                       "$nope is not a variable",
		`sumx(drsctl_rpo_breach)`:                                                  "not a PromQL function",
		`sum(drsctl_rpo_breach`:                                                    "( without its )",
		`{__name__="drsctl_rpo_breach"}`:                                           "without a metric name",
		`drsctl_rpo_breach{target=~"a",}} `:                                        "} without its {",
		`drsctl_rpo_breach{target=~a}`:                                             "not label op",
		`vector(1)`:                                                                "names no metric",
		`node_textfile_mtime_seconds{target="x"}`:                                  `no label "target"`,
	} {
		_, errs := checkPromQL(expr, "", vars)
		if !strings.Contains(fmt.Sprint(errs), want) {
			t.Errorf("%s: errors %v, want one saying %q", expr, errs, want)
		}
	}
	if _, errs := checkPromQL(`sum by (target) (drsctl_rpo_breach{target=~"$target"})`, "{{database}}", vars); !strings.Contains(fmt.Sprint(errs), "{{database}}") {
		t.Errorf("a legend label the aggregation dropped: %v", errs)
	}
	if _, errs := checkPromQL(`drsctl_rpo_breach{target="$one"}`, "{{target}} {{database}}", vars); errs != nil {
		t.Errorf("a single-valued variable with =: %v", errs)
	}
	q, errs := checkPromQL(`time() - max(node_textfile_mtime_seconds{file=~"(.*/)?drsctl\\.prom"}) offset 5m or vector(0)`, "", vars)
	if errs != nil || !slices.Equal(q.metrics, []string{"node_textfile_mtime_seconds"}) || q.matchers[0].value != `(.*/)?drsctl\\.prom` {
		t.Errorf("read as %+v, %v", q, errs)
	}
}

// ---- the dashboard ----

type grafanaDashboard struct {
	ID            any                       `json:"id"`
	UID           string                    `json:"uid"`
	Title         string                    `json:"title"`
	Description   string                    `json:"description"`
	SchemaVersion int                       `json:"schemaVersion"`
	Time          struct{ From, To string } `json:"time"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Multi      bool            `json:"multi"`
			IncludeAll bool            `json:"includeAll"`
			Datasource *grafanaDS      `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaDS struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaPanel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	Datasource *grafanaDS               `json:"datasource"`
	GridPos    struct{ X, Y, W, H int } `json:"gridPos"`
	Targets    []struct {
		RefID        string     `json:"refId"`
		Expr         string     `json:"expr"`
		LegendFormat string     `json:"legendFormat"`
		Datasource   *grafanaDS `json:"datasource"`
	} `json:"targets"`
}

// dashboardDatasource is what every panel, query and variable asks for: the
// dashboard's own variable, so that the dashboard imports into any Grafana
// (Dashboards → Import, or file provisioning) and uses the Prometheus the
// importer picks, never a datasource UID of the machine it was made on.
var dashboardDatasource = grafanaDS{Type: "prometheus", UID: "${DS_PROMETHEUS}"}

func TestExamples_GrafanaDashboard(t *testing.T) {
	p := filepath.Join(grafanaDir, "drsctl-dashboard.json")
	raw := []byte(readFile(t, p))
	var d grafanaDashboard
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	if d.ID != nil {
		t.Errorf("id %v: a dashboard to import has a null id (Grafana assigns it; a fixed one overwrites another dashboard)", d.ID)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{1,40}$`).MatchString(d.UID) || d.Title == "" || d.SchemaVersion < 36 || d.Time.From == "" || d.Time.To == "" {
		t.Errorf("uid %q, title %q, schemaVersion %d, time %+v: the dashboard model's fields", d.UID, d.Title, d.SchemaVersion, d.Time)
	}

	// Every datasource anywhere in the file is the variable.
	var any_ any
	if err := json.Unmarshal(raw, &any_); err != nil {
		t.Fatal(err)
	}
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if k == "datasource" {
					b, _ := json.Marshal(e)
					var ds grafanaDS
					if json.Unmarshal(b, &ds) != nil || ds != dashboardDatasource {
						t.Errorf("%s.datasource = %s, want %+v", where, b, dashboardDatasource)
					}
					continue
				}
				walk(where+"."+k, e)
			}
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", where, i), e)
			}
		}
	}
	walk("dashboard", any_)

	vars := map[string]grafanaVar{}
	exported := exportedLabels()
	dsVar := false
	for _, v := range d.Templating.List {
		switch v.Type {
		case "datasource":
			var q string
			json.Unmarshal(v.Query, &q)
			dsVar = dsVar || v.Name == "DS_PROMETHEUS" && q == "prometheus"
		case "query":
			var q struct{ Query string }
			if json.Unmarshal(v.Query, &q) != nil {
				json.Unmarshal(v.Query, &q.Query)
			}
			m := labelValuesRe.FindStringSubmatch(q.Query)
			if m == nil {
				t.Errorf("variable %s: query %s, want label_values(metric, label)", v.Name, v.Query)
				continue
			}
			if !slices.Contains(exported[m[1]], m[2]) {
				t.Errorf("variable %s: %s has no label %q in what drsctl exports", v.Name, m[1], m[2])
			}
			vars[v.Name] = grafanaVar{label: m[2], multi: v.Multi || v.IncludeAll}
		default:
			t.Errorf("variable %s of type %q", v.Name, v.Type)
		}
	}
	if !dsVar {
		t.Error(`no datasource variable DS_PROMETHEUS of type "prometheus"`)
	}

	used := map[string]bool{}
	ids := map[int]bool{}
	var textfileRes []string
	for i, pn := range d.Panels {
		where := fmt.Sprintf("panel %d %q", pn.ID, pn.Title)
		if pn.ID <= 0 || ids[pn.ID] {
			t.Errorf("%s: id not unique and positive", where)
		}
		ids[pn.ID] = true
		if pn.Title == "" || !set("stat", "timeseries", "table", "bargauge", "gauge", "text", "row")[pn.Type] {
			t.Errorf("%s: title or type %q", where, pn.Type)
		}
		g := pn.GridPos
		if g.X < 0 || g.Y < 0 || g.W <= 0 || g.H <= 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v outside Grafana's 24 columns", where, g)
		}
		for _, o := range d.Panels[:i] {
			h := o.GridPos
			if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
				t.Errorf("%s overlaps panel %d %q", where, o.ID, o.Title)
			}
		}
		if pn.Type == "row" || pn.Type == "text" {
			continue
		}
		if len(pn.Targets) == 0 {
			t.Errorf("%s: no query", where)
		}
		refs := map[string]bool{}
		for _, tg := range pn.Targets {
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("%s: refId %q missing or repeated", where, tg.RefID)
			}
			refs[tg.RefID] = true
			q, errs := checkPromQL(tg.Expr, tg.LegendFormat, vars)
			for _, err := range errs {
				t.Errorf("%s, query %s `%s`: %v", where, tg.RefID, tg.Expr, err)
			}
			for _, m := range q.metrics {
				used[m] = true
			}
			for _, mt := range q.matchers {
				if mt.metric == "node_textfile_mtime_seconds" && mt.label == "file" {
					textfileRes = append(textfileRes, mt.value)
				}
			}
		}
	}
	// The dashboard shows everything drsctl exports: a metric added to the
	// exporter needs its panel.
	for _, m := range cli.PrometheusMetrics() {
		if !used[m.Name] {
			t.Errorf("no panel shows %s (%s)", m.Name, m.Help)
		}
	}
	// The freshness panel watches the file the cron entry writes.
	if len(textfileRes) == 0 {
		t.Fatal("no panel watches the age of drsctl.prom (node_textfile_mtime_seconds): frozen figures would look healthy")
	}
	prom := textfileTarget(t)
	for _, re := range textfileRes {
		unquoted := strings.ReplaceAll(re, `\\`, `\`)       // the PromQL string's escape
		rx := regexp.MustCompile("^(?:" + unquoted + ")$")  // Prometheus anchors its regular expressions
		for _, f := range []string{prom, path.Base(prom)} { // node_exporter's file label: the path, or the name in old versions
			if !rx.MatchString(f) {
				t.Errorf("node_textfile_mtime_seconds{file=~%q} does not match %s, the file the cron entry writes", re, f)
			}
		}
		if rx.MatchString(prom + ".tmp") {
			t.Errorf("node_textfile_mtime_seconds{file=~%q} matches the temporary file too", re)
		}
	}
}

// ---- the cron entry that feeds it ----

// textfileEntry reads drsctl-metrics.cron's one entry and checks its shape:
// drsctl status -format prometheus into a temporary name in the collector's
// directory, then renamed to *.prom only if status succeeded.
func textfileEntry(t *testing.T) (e cronEntry, tmp, prom string) {
	t.Helper()
	p := filepath.Join(grafanaDir, "drsctl-metrics.cron")
	entries := parseCronD(t, p)
	if len(entries) != 1 {
		t.Fatalf("%s: %d entries, want 1", p, len(entries))
	}
	e = entries[0]
	where := fmt.Sprintf("%s:%d", p, e.line)
	if e.user == "root" {
		t.Errorf("%s: runs as root; run drsctl as its own user", where)
	}
	cmds, err := shellCommands(e.command)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	lines := drsctlCommands(t, where, e.command)
	if len(lines) != 1 || lines[0].verb != "status" || lines[0].flags["format"] != "prometheus" {
		t.Fatalf("%s: want one drsctl status -format prometheus, have %+v", where, lines)
	}
	l := lines[0]
	if l.flags["check"] == "true" || l.flags["json"] == "true" {
		t.Errorf("%s: status -check exits 2 on a breach, which skips the rename: the metrics would freeze when they matter", where)
	}
	if l.cmd.stderr != "" {
		t.Errorf("%s: status's errors are redirected (%s): they would never reach the mail", where, l.cmd.stderr)
	}
	tmp = l.cmd.stdout
	i := slices.IndexFunc(cmds, func(c simpleCommand) bool { return path.Base(c.argv[0]) == "drsctl" })
	if l.cmd.next != "&&" || i+1 >= len(cmds) || cmds[i+1].argv[0] != "mv" || len(cmds[i+1].argv) != 3 || cmds[i+1].argv[1] != tmp {
		t.Fatalf("%s: status's output must go to a file renamed with `&& mv TMP FILE.prom` (only when status succeeded)", where)
	}
	prom = cmds[i+1].argv[2]
	if !strings.HasSuffix(prom, ".prom") || strings.HasSuffix(tmp, ".prom") || filepath.Dir(tmp) != filepath.Dir(prom) || !filepath.IsAbs(prom) {
		t.Errorf("%s: writes %s, renamed to %s: the collector reads only *.prom, so the temporary name must not end in .prom, and a rename is atomic only within one directory", where, tmp, prom)
	}
	return e, tmp, prom
}

func textfileTarget(t *testing.T) string {
	_, _, prom := textfileEntry(t)
	return prom
}

// The cron entry run as cron would, with the real drsctl and examples/cron's
// configuration: a good run leaves drsctl.prom as the textfile collector
// parses it, with every metric the dashboard reads, breaches included (the
// estate has restored nothing yet); then the worst week: the state file is
// overwritten by a cleanup job, status fails, cron mails the error, and
// drsctl.prom stays as it was, old, never empty or half written, so the
// dashboard's "Metrics file age" turns red instead of the panels going blank
// or, worse, green.
func TestExamples_GrafanaTextfileCron(t *testing.T) {
	e, _, prom := textfileEntry(t)
	bin := drsctlBinary(t)
	etc, textfiles, lib := t.TempDir(), t.TempDir(), t.TempDir()
	state := filepath.Join(lib, "drs.state.json")
	cfg := readFile(t, filepath.Join(examplesDir, "cron", "drs.drs.hcl"))
	if !strings.Contains(cfg, "/var/lib/drsctl/drs.state.json") {
		t.Fatal("examples/cron/drs.drs.hcl: its state is no longer /var/lib/drsctl/drs.state.json; update this test")
	}
	cfg = strings.ReplaceAll(cfg, "/var/lib/drsctl/drs.state.json", state)
	if err := os.WriteFile(filepath.Join(etc, "drs.drs.hcl"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var secrets strings.Builder
	for _, v := range neededEnv(t, filepath.Join(examplesDir, "cron")) {
		fmt.Fprintf(&secrets, "%s='sqlserver://drs:x@127.0.0.1:1?database=master'\n", v) // status asks no server
	}
	if err := os.WriteFile(filepath.Join(etc, "drsctl.env"), []byte(secrets.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	tools := t.TempDir()
	if err := os.WriteFile(filepath.Join(tools, "drsctl"), []byte("#!/bin/sh\nexec \"$DRSCTL_BIN\" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	command := strings.ReplaceAll(e.command, "/etc/drsctl", etc)
	command = strings.ReplaceAll(command, filepath.Dir(prom), textfiles)
	promPath := filepath.Join(textfiles, filepath.Base(prom))
	run := func() string {
		t.Helper()
		cmd := exec.Command("sh", "-c", command)
		cmd.Dir = t.TempDir()
		cmd.Env = []string{"PATH=" + tools + ":/usr/bin:/bin", "HOME=" + cmd.Dir, "DRSCTL_BIN=" + bin}
		out, _ := cmd.CombinedOutput() // cron mails the output and ignores the exit status
		return string(out)
	}
	// collected is what the textfile collector reads: every *.prom file.
	collected := func() []string {
		t.Helper()
		names, err := filepath.Glob(filepath.Join(textfiles, "*.prom"))
		if err != nil {
			t.Fatal(err)
		}
		return names
	}

	if mail := run(); mail != "" {
		t.Fatalf("a good run mails:\n%s", mail)
	}
	if got := collected(); !slices.Equal(got, []string{promPath}) {
		t.Fatalf("the collector would read %q, want %s", got, promPath)
	}
	text := readFile(t, promPath)
	parser := expfmt.NewTextParser(model.LegacyValidation) // node_exporter's textfile collector parses with expfmt's text parser
	fams, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("%s does not parse as the text format:\n%v\n%s", promPath, err, text)
	}
	for _, m := range cli.PrometheusMetrics() {
		f := fams[m.Name]
		if f == nil || len(f.GetMetric()) == 0 {
			t.Errorf("%s has no %s", promPath, m.Name)
			continue
		}
		for _, s := range f.GetMetric() {
			if s.TimestampMs != nil {
				t.Errorf("%s: a sample with a timestamp, which the textfile collector refuses", m.Name)
			}
		}
	}
	if v := fams["drsctl_rpo_breach"].GetMetric()[0].GetGauge().GetValue(); v != 1 {
		t.Errorf("drsctl_rpo_breach = %v before any restore, want 1 (written despite the breach)", v)
	}

	// The state file is clobbered; the file the collector reads must not be.
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(promPath, old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(state, []byte("# rotated by logrotate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mail := run()
	if !strings.Contains(mail, "Error") || !strings.Contains(mail, state) {
		t.Errorf("a run that cannot read the state mails %q, want the error naming %s", mail, state)
	}
	if got := readFile(t, promPath); got != text {
		t.Errorf("a failed run changed %s:\n%s", promPath, got)
	}
	if fi, err := os.Stat(promPath); err != nil || !fi.ModTime().Equal(old) {
		t.Errorf("a failed run touched %s (%v): the dashboard would not see that the figures are stale", promPath, err)
	}
	if got := collected(); !slices.Equal(got, []string{promPath}) {
		t.Errorf("after a failed run the collector would read %q", got)
	}
}
