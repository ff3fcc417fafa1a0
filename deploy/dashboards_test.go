package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/rightsize/rightsize/internal/app"
	"github.com/rightsize/rightsize/internal/app/apptest"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/testkit"
)

// dashboard is the part of a Grafana dashboard's JSON the checks read.
type dashboard struct {
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Datasource json.RawMessage `json:"datasource"`
			// Query is a string, or an object whose query field is one.
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title      string          `json:"title"`
	Type       string          `json:"type"`
	Datasource json.RawMessage `json:"datasource"`
	Targets    []struct {
		RefID      string          `json:"refId"`
		Expr       string          `json:"expr"`
		Datasource json.RawMessage `json:"datasource"`
	} `json:"targets"`
	// Panels holds a collapsed row's panels.
	Panels []panel `json:"panels"`
}

func readDashboard(t *testing.T, file string) dashboard {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return d
}

// allPanels returns every panel, those inside collapsed rows included.
func (d dashboard) allPanels() []panel {
	var all []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			all = append(all, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return all
}

// datasourceUIDs returns the uids of the datasources p and its queries name.
func (p panel) datasourceUIDs() []string {
	var uids []string
	add := func(raw json.RawMessage) {
		var ds struct {
			UID string `json:"uid"`
		}
		if len(raw) > 0 && json.Unmarshal(raw, &ds) == nil && ds.UID != "" {
			uids = append(uids, ds.UID)
		}
	}
	add(p.Datasource)
	for _, t := range p.Targets {
		add(t.Datasource)
	}
	return uids
}

// query is one PromQL expression of a dashboard, with where it is.
type query struct {
	where string
	expr  string
}

// queries returns every PromQL expression of d: each panel's targets and
// each templating variable's label_values(...) selector.
func (d dashboard) queries() ([]query, error) {
	var qs []query
	for _, p := range d.allPanels() {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			return nil, fmt.Errorf("panel %q has no query", p.Title)
		}
		for _, t := range p.Targets {
			if strings.TrimSpace(t.Expr) == "" {
				return nil, fmt.Errorf("panel %q, query %s: empty expression", p.Title, t.RefID)
			}
			qs = append(qs, query{fmt.Sprintf("panel %q, query %s", p.Title, t.RefID), t.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var text string
		if json.Unmarshal(v.Query, &text) != nil {
			var obj struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				return nil, fmt.Errorf("variable %s: query: %v", v.Name, err)
			}
			text = obj.Query
		}
		m := labelValues.FindStringSubmatch(strings.TrimSpace(text))
		if m == nil {
			return nil, fmt.Errorf("variable %s: %q is not label_values(SELECTOR, LABEL)", v.Name, text)
		}
		// The label the variable lists must be on the series it selects.
		qs = append(qs, query{fmt.Sprintf("variable %s", v.Name), fmt.Sprintf("count by (%s) (%s)", m[2], m[1])})
	}
	return qs, nil
}

var (
	labelValues = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)
	// Grafana's variables: the interval ones stand where PromQL takes a
	// duration, the dashboard's own inside label values.
	grafanaInterval = regexp.MustCompile(`\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}`)
	grafanaVariable = regexp.MustCompile(`\$\{?[a-zA-Z_][a-zA-Z0-9_]*(:[a-z]+)?\}?`)
)

// series describes what a scrape holds: for each series name (a histogram's
// _bucket, _sum and _count apart), the labels it carries, and the family it
// belongs to.
type series struct {
	labels map[string]map[string]bool
	family map[string]string
}

func seriesOf(families map[string]*dto.MetricFamily) series {
	s := series{labels: map[string]map[string]bool{}, family: map[string]string{}}
	add := func(name, family string, m *dto.Metric, extra ...string) {
		if s.labels[name] == nil {
			s.labels[name] = map[string]bool{}
		}
		s.family[name] = family
		for _, l := range m.GetLabel() {
			s.labels[name][l.GetName()] = true
		}
		for _, l := range extra {
			s.labels[name][l] = true
		}
	}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				add(name+"_bucket", name, m, "le")
				add(name+"_sum", name, m)
				add(name+"_count", name, m)
			case dto.MetricType_SUMMARY:
				add(name, name, m, "quantile")
				add(name+"_sum", name, m)
				add(name+"_count", name, m)
			default:
				add(name, name, m)
			}
		}
	}
	return s
}

// targetLabels are the labels Prometheus adds to every scraped series: job
// and instance, and the labels of the stack's static_configs.
func targetLabels(cfg prometheusFile) map[string]bool {
	labels := map[string]bool{"job": true, "instance": true}
	for _, job := range cfg.ScrapeConfigs {
		for _, sc := range job.StaticConfigs {
			for l := range sc.Labels {
				labels[l] = true
			}
		}
	}
	return labels
}

// synthetic are the series Prometheus itself records for each target; they
// carry only the target's labels.
var synthetic = []string{"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling", "scrape_series_added"}

// missing reports what a query needs that the scrape does not hold: a series
// no one exports, or a label that series does not carry. postgresOnly names
// the series allowed to be absent, for a run on SQLite.
func missing(q query, s series, target map[string]bool, postgresOnly func(string) bool) []error {
	node, err := parseQuery(q.expr)
	if err != nil {
		return []error{fmt.Errorf("%s: %q is not PromQL: %v", q.where, q.expr, err)}
	}
	var errs []error
	// labelsOf returns the labels of every series a node selects, nil if one
	// of them is not exported.
	labelsOf := func(name string) map[string]bool {
		if slices.Contains(synthetic, name) {
			return maps.Clone(target)
		}
		l, ok := s.labels[name]
		if !ok {
			return nil
		}
		all := maps.Clone(l)
		maps.Copy(all, target)
		return all
	}
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			name := selectorName(n)
			labels := labelsOf(name)
			if labels == nil {
				if postgresOnly(name) {
					return nil
				}
				errs = append(errs, fmt.Errorf("%s: no series %s in the program's /metrics", q.where, name))
				return nil
			}
			for _, m := range n.LabelMatchers {
				if m.Name != model.MetricNameLabel && !labels[m.Name] {
					errs = append(errs, fmt.Errorf("%s: %s has no label %q (it has %v)", q.where, name, m.Name, slices.Sorted(maps.Keys(labels))))
				}
			}
		case *parser.AggregateExpr:
			if n.Without {
				return nil
			}
			for _, name := range selectorNames(n.Expr) {
				labels := labelsOf(name)
				if labels == nil {
					continue // reported at the selector
				}
				for _, g := range n.Grouping {
					if !labels[g] {
						errs = append(errs, fmt.Errorf("%s: groups %s by %q, a label it does not have (it has %v)", q.where, name, g, slices.Sorted(maps.Keys(labels))))
					}
				}
			}
		}
		return nil
	})
	return errs
}

// parseQuery parses a dashboard's expression as PromQL, Grafana's variables
// replaced by values of their kind.
func parseQuery(expr string) (parser.Expr, error) {
	expr = grafanaInterval.ReplaceAllString(expr, "5m")
	expr = grafanaVariable.ReplaceAllString(expr, "x")
	return parser.NewParser(parser.Options{}).ParseExpr(expr)
}

// selectorName returns the metric name vs selects.
func selectorName(vs *parser.VectorSelector) string {
	name := vs.Name
	for _, m := range vs.LabelMatchers {
		if m.Name == model.MetricNameLabel {
			name = m.Value
		}
	}
	return name
}

// selectorNames returns the metric names n selects.
func selectorNames(n parser.Node) []string {
	var names []string
	parser.Inspect(n, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, selectorName(vs))
		}
		return nil
	})
	return names
}

// rightsize is `rightsize serve` running in this process.
type rightsize struct {
	api, metrics string
	smtp         *testkit.SMTP
}

// startRightsize runs the real program, every service and the worker, on
// free loopback ports against a fresh database with the schema, mailing
// through an in-process SMTP server.
func startRightsize(t *testing.T) *rightsize {
	t.Helper()
	smtp := testkit.SMTPServer(t)
	port, metricsPort := testkit.FreePort(t), testkit.FreePort(t)
	env := map[string]string{
		"PORT":         fmt.Sprint(port),
		"METRICS_ADDR": fmt.Sprintf("127.0.0.1:%d", metricsPort),
		"DATABASE_URL": apptest.DatabaseURL(t),
		"AUTO_MIGRATE": "false",
		"DATA_DIR":     t.TempDir(),
		"SMTP_URL":     smtp.URL(),
		"LOG_FORMAT":   "json",
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := new(testkit.Logs)
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, []string{"rightsize", "serve"}, func(k string) string { return env[k] }, nil, logs, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("rightsize serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("rightsize serve did not stop")
		}
	})
	logs.WaitFor(t, `"msg":"listening"`)
	return &rightsize{
		api:     fmt.Sprintf("http://127.0.0.1:%d", port),
		metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort),
		smtp:    smtp,
	}
}

// call sends a JSON request and returns the decoded answer, failing unless
// the status is want.
func (r *rightsize) call(t *testing.T, want int, method, path, token string, body any) map[string]any {
	t.Helper()
	var in io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		in = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.api+path, in)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if method == http.MethodPost && strings.HasPrefix(path, "/v1/orders") {
		req.Header.Set("Idempotency-Key", "dashboards-test-order")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s: got %d %s, want %d", method, path, res.StatusCode, data, want)
	}
	out := map[string]any{}
	json.Unmarshal(data, &out)
	return out
}

// traffic drives what a user does (sign up, follow the mail's link, log in,
// make an order), so that the labelled series and the job metrics appear.
func (r *rightsize) traffic(t *testing.T) {
	t.Helper()
	const email, password = "ada@example.com", "correct horse battery staple"
	r.call(t, http.StatusAccepted, "POST", "/v1/auth/signup", "", map[string]string{"email": email, "password": password, "name": "Ada"})
	mail := r.smtp.Wait(t, 30*time.Second)
	token := apptest.LinkToken(t, string(mail.Body), "/verify-email")
	r.call(t, http.StatusOK, "POST", "/v1/auth/verify-email", "", map[string]string{"token": token, "password": password})
	login := r.call(t, http.StatusOK, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password})
	access, _ := login["access_token"].(string)
	r.call(t, http.StatusOK, "GET", "/v1/me", access, nil)
	r.call(t, http.StatusCreated, "POST", "/v1/orders", access, map[string]any{
		"currency": "EUR", "items": []map[string]any{{"sku": "BOOK-1", "name": "A book", "quantity": 1, "unit_amount": 1250}},
	})
	r.call(t, http.StatusOK, "GET", "/v1/orders?limit=5", access, nil)
}

// scrape returns the series of the metrics listener once every name in want
// is there, or after the deadline with what there is.
func (r *rightsize) scrape(t *testing.T, want []string, deadline time.Duration) series {
	t.Helper()
	var s series
	for end := time.Now().Add(deadline); ; time.Sleep(100 * time.Millisecond) {
		res, err := http.Get(r.metrics)
		if err != nil {
			t.Fatal(err)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		families, err := p.TextToMetricFamilies(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatalf("parse %s: %v", r.metrics, err)
		}
		s = seriesOf(families)
		if !slices.ContainsFunc(want, func(n string) bool { _, ok := s.labels[n]; return !ok }) || time.Now().After(end) {
			return s
		}
	}
}

// dashboardFiles returns the dashboards Grafana is provisioned with.
func dashboardFiles(t *testing.T) ([]string, map[string]bool) {
	t.Helper()
	s := loadStack(t, "../compose.yaml")
	return s.loadGrafana(t).dashboards, targetLabels(s.loadPrometheus(t))
}

// postgresOnly reports whether a series is one only PostgreSQL's connection
// pool exports (internal/platform/database), absent by nature from a run on
// SQLite. The run with TEST_DATABASE_URL checks those too.
func postgresOnly(name string) bool {
	return testkit.Dialect() == database.SQLite && strings.HasPrefix(name, "db_pool_")
}

// Every series a dashboard panel or variable queries is in the real
// /metrics of a running rightsize, with every label the query matches or
// groups by.
func TestDashboardsQueryRealMetrics(t *testing.T) {
	t.Parallel()
	files, target := dashboardFiles(t)
	var qs []query
	for _, f := range files {
		d := readDashboard(t, f)
		dq, err := d.queries()
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
		for _, q := range dq {
			q.where = filepath.Base(f) + ": " + q.where
			qs = append(qs, q)
		}
	}

	if len(qs) == 0 {
		t.Fatal("the dashboards hold no query")
	}

	r := startRightsize(t)
	r.traffic(t)
	var want []string
	for _, q := range qs {
		if node, err := parseQuery(q.expr); err == nil {
			for _, n := range selectorNames(node) {
				if !slices.Contains(synthetic, n) && !postgresOnly(n) {
					want = append(want, n)
				}
			}
		}
	}
	s := r.scrape(t, want, 30*time.Second)
	t.Logf("%d queries over %d series names, checked against %d series names scraped", len(qs), len(want), len(s.labels))
	for _, q := range qs {
		for _, err := range missing(q, s, target, postgresOnly) {
			t.Error(err)
		}
	}
}

// The check itself finds a metric, a label or a grouping that is not there,
// and a query that is not PromQL.
func TestDashboardCheckFindsMistakes(t *testing.T) {
	t.Parallel()
	text := `# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{route="GET /v1/me",method="GET",status="2xx",le="+Inf"} 1
http_request_duration_seconds_sum{route="GET /v1/me",method="GET",status="2xx"} 0.1
http_request_duration_seconds_count{route="GET /v1/me",method="GET",status="2xx"} 1
`
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	s := seriesOf(families)
	target := map[string]bool{"job": true, "instance": true, "service": true}
	never := func(string) bool { return false }
	for _, tc := range []struct {
		expr string
		want string // in the error; "" for none
	}{
		{`histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{service=~"$service"}[$__rate_interval])))`, ""},
		{`sum by (route) (rate(http_requests_total[5m]))`, "no series http_requests_total"},
		{`sum(rate(http_request_duration_seconds_count{path="/v1/me"}[5m]))`, `no label "path"`},
		{`sum by (path) (rate(http_request_duration_seconds_count[5m]))`, `by "path"`},
		{`sum by (le) (rate(http_request_duration_seconds_count[5m]))`, `by "le"`},
		{`up{job="rightsize"}`, ""},
		{`sum(rate(http_request_duration_seconds_count[5m])`, "not PromQL"},
	} {
		errs := missing(query{"test", tc.expr}, s, target, never)
		got := errors.Join(errs...)
		switch {
		case tc.want == "" && got != nil:
			t.Errorf("%s: got %v, want no error", tc.expr, got)
		case tc.want != "" && (got == nil || !strings.Contains(got.Error(), tc.want)):
			t.Errorf("%s: got %v, want an error saying %q", tc.expr, got, tc.want)
		}
	}
}
