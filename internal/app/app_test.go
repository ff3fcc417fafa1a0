package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/platform/httpx"
	"github.com/rightsize/rightsize/internal/platform/testkit"
	"github.com/rightsize/rightsize/internal/service"
)

// fakeService is a service of tests: routes and nothing else.
type fakeService struct {
	service.Defaults
	public []string
	routes func(mux httpx.Router)
}

func (f *fakeService) Routes(mux httpx.Router) { f.routes(mux) }
func (f *fakeService) Public() []string        { return f.public }

// fake defines a service called name with the given routes.
func fake(name string, public []string, routes func(mux httpx.Router)) service.Def {
	return service.Define(name, nil, func(*struct{}, service.Deps) (*fakeService, error) {
		return &fakeService{public: public, routes: routes}, nil
	})
}

// testCatalog has two services, so that mounting a subset can be seen.
var testCatalog = []service.Def{
	fake("alpha", []string{"GET /v1/alpha", "GET /v1/alpha/panic"}, func(mux httpx.Router) {
		mux.Handle("GET /v1/alpha", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "alpha") }))
		mux.Handle("GET /v1/alpha/panic", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("handler bug") }))
	}),
	fake("beta", []string{"GET /v1/beta"}, func(mux httpx.Router) {
		mux.Handle("GET /v1/beta", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "beta") }))
	}),
}

type problem struct {
	Type, Title, Detail string
	Status              int
	CorrelationID       string `json:"correlation_id"`
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	return do(t, http.MethodGet, url)
}

func do(t *testing.T, method, url string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

func decodeProblem(t *testing.T, res *http.Response, body []byte) problem {
	t.Helper()
	if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("got Content-Type %q, want application/problem+json", ct)
	}
	var p problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem body %q: %v", body, err)
	}
	if p.CorrelationID == "" || p.CorrelationID != res.Header.Get("X-Request-ID") {
		t.Errorf("got correlation_id %q, want it to equal X-Request-ID %q", p.CorrelationID, res.Header.Get("X-Request-ID"))
	}
	if p.Status != res.StatusCode {
		t.Errorf("got status %d in body, want %d", p.Status, res.StatusCode)
	}
	return p
}

// loadConfig loads env for catalog, failing the test on a bad value.
func loadConfig(t *testing.T, catalog []service.Def, env map[string]string) *loaded {
	t.Helper()
	cfg, err := load(func(k string) string { return env[k] }, catalog)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// newTestServer serves App.Handler over a real listener, with the named
// services of testCatalog mounted and no worker, on an empty database that
// the App migrates.
func newTestServer(t *testing.T, services ...string) (*httptest.Server, *App, *testkit.Logs) {
	t.Helper()
	cfg := loadConfig(t, testCatalog, map[string]string{
		"DATABASE_URL": testkit.EmptyDatabaseURL(t),
		"DATA_DIR":     t.TempDir(),
		"SERVICES":     strings.Join(services, ","),
		"WORKER":       "false",
		"LOG_FORMAT":   "json",
	})
	logs := new(testkit.Logs)
	a, err := build(context.Background(), cfg, logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return srv, a, logs
}

func TestServicesSelection(t *testing.T) {
	t.Parallel()
	srv, _, _ := newTestServer(t, "alpha")
	if res, body := get(t, srv.URL+"/v1/alpha"); res.StatusCode != 200 || string(body) != "alpha" {
		t.Errorf("alpha: got %d %q, want 200 alpha", res.StatusCode, body)
	}
	res, body := get(t, srv.URL+"/v1/beta")
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("beta, not mounted: got %d, want 404", res.StatusCode)
	}
	decodeProblem(t, res, body)

	all, err := selectServices(testCatalog, nil)
	if err != nil || len(all) != 2 {
		t.Errorf("no SERVICES: got %d services (err %v), want all 2", len(all), err)
	}
	_, err = selectServices(testCatalog, []string{"alpha", "gamma"})
	if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), `SERVICES: unknown service "gamma"`) {
		t.Errorf("got %v, want a usage error naming SERVICES and gamma", err)
	}
}

func TestErrorsAreProblems(t *testing.T) {
	t.Parallel()
	srv, _, _ := newTestServer(t)

	res, body := get(t, srv.URL+"/no/such/path")
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("got %d, want 404", res.StatusCode)
	}
	decodeProblem(t, res, body)

	res, body = do(t, http.MethodPost, srv.URL+"/health")
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("got %d, want 405", res.StatusCode)
	}
	decodeProblem(t, res, body)
	if allow := res.Header.Get("Allow"); !strings.Contains(allow, "GET") {
		t.Errorf("got Allow %q, want GET in it", allow)
	}

	// A panic is one 500, and the server goes on serving.
	srv2, _, logs2 := newTestServer(t, "alpha")
	res, body = get(t, srv2.URL+"/v1/alpha/panic")
	if res.StatusCode != http.StatusInternalServerError {
		t.Fatalf("panic: got %d, want 500", res.StatusCode)
	}
	p := decodeProblem(t, res, body)
	if strings.Contains(string(body), "handler bug") {
		t.Errorf("500 body %s reveals the panic value", body)
	}
	if !strings.Contains(logs2.String(), "handler bug") || !strings.Contains(logs2.String(), p.CorrelationID) {
		t.Errorf("the panic is not logged with its request ID %s", p.CorrelationID)
	}
	if res, _ := get(t, srv2.URL+"/v1/alpha"); res.StatusCode != 200 {
		t.Errorf("after a panic: got %d, want 200", res.StatusCode)
	}
}

func TestHealthAndReady(t *testing.T) {
	t.Parallel()
	srv, a, logs := newTestServer(t)
	for _, path := range []string{"/health", "/ready"} {
		if res, body := get(t, srv.URL+path); res.StatusCode != 200 {
			t.Errorf("%s: got %d %s, want 200", path, res.StatusCode, body)
		}
	}
	a.ready.Store(false)
	res, body := get(t, srv.URL+"/ready")
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/ready while shutting down: got %d, want 503", res.StatusCode)
	}
	decodeProblem(t, res, body)
	if res, _ := get(t, srv.URL+"/health"); res.StatusCode != 200 {
		t.Errorf("/health while shutting down: got %d, want 200 (the process is alive)", res.StatusCode)
	}

	// One access-log line per request, labelled by route pattern.
	var lines []map[string]any
	for _, l := range logs.Lines() {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 4 {
		t.Fatalf("got %d access-log lines, want 4", len(lines))
	}
	for _, key := range []string{"method", "route", "status", "duration_ms", "bytes", "request_id", "db_queries"} {
		if _, ok := lines[0][key]; !ok {
			t.Errorf("access-log line %v has no %s", lines[0], key)
		}
	}
	if lines[1]["route"] != "GET /ready" {
		t.Errorf("got route %v, want GET /ready", lines[1]["route"])
	}
	// The readiness probe's one query is counted; /health makes none.
	if lines[0]["db_queries"] != 0.0 || lines[1]["db_queries"] != 1.0 {
		t.Errorf("got db_queries %v and %v, want 0 for /health and 1 for /ready", lines[0]["db_queries"], lines[1]["db_queries"])
	}
}

func TestRunUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"bogus"}, nil, `unknown command "bogus"`},
		{[]string{"serve", "--nope"}, nil, "flag provided but not defined: -nope"},
		{[]string{"serve", "extra"}, nil, `unexpected argument "extra"`},
		{[]string{"worker", "--services", "alpha"}, nil, "belong to serve"},
		{[]string{"migrate", "sideways"}, nil, "migrate wants one of up, down, status"},
		{[]string{"serve", "--services", "Not Valid"}, nil, "SERVICES"},
		{[]string{"serve"}, map[string]string{"PORT": "eighty"}, "PORT"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "mysql://x"}, "DATABASE_URL"},
	}
	for _, tt := range tests {
		args := append([]string{"rightsize"}, tt.args...)
		err := Run(context.Background(), args, func(k string) string { return tt.env[k] }, nil, io.Discard, io.Discard)
		if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: got %v, want a usage error containing %q", tt.args, err, tt.want)
		}
	}
}

func TestHelpAndVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help"}, {"--help"}, {"serve", "-h"}} {
		var out bytes.Buffer
		if err := Run(context.Background(), append([]string{"rightsize"}, args...), func(string) string { return "" }, nil, &out, io.Discard); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		for _, want := range []string{"serve", "--services", "--worker", "worker", "migrate up|down|status", "version"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%v: help does not mention %q", args, want)
			}
		}
	}
	var out bytes.Buffer
	if err := Run(context.Background(), []string{"rightsize", "version"}, func(string) string { return "" }, nil, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "rightsize dev") {
		t.Errorf("version: got %q, %v", out.String(), err)
	}
}

// running is a whole `rightsize serve` in this process.
type running struct {
	api, metrics string
	logs         *testkit.Logs
	stop         context.CancelFunc
	done         chan struct{} // closed when serve has returned, with err set
	err          error
}

// startServe runs serve with services as the catalog and env on top of a
// fresh database, free ports and a cursor secret.
func startServe(t *testing.T, catalog []service.Def, env map[string]string) *running {
	t.Helper()
	port := testkit.FreePort(t)
	full := map[string]string{
		"PORT":          fmt.Sprint(port),
		"METRICS_ADDR":  "127.0.0.1:0",
		"DATA_DIR":      t.TempDir(),
		"DATABASE_URL":  testkit.EmptyDatabaseURL(t),
		"CURSOR_SECRET": strings.Repeat("k3y", 12),
		"LOG_FORMAT":    "json",
	}
	for k, v := range env {
		full[k] = v
	}
	cfg := loadConfig(t, catalog, full)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{logs: new(testkit.Logs), stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = serve(ctx, cfg, r.logs)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	line := r.logs.WaitFor(t, `"msg":"listening"`)
	r.api = fmt.Sprintf("http://127.0.0.1:%d", port)
	r.metrics = "http://" + jsonField(t, line, "metrics_addr")
	return r
}

// Wait returns serve's result once it has returned.
func (r *running) Wait(t *testing.T) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not return after cancellation")
		return nil
	}
}

func jsonField(t *testing.T, line, key string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("log line %q: %v", line, err)
	}
	s, _ := m[key].(string)
	return s
}

func TestServeMetricsListener(t *testing.T) {
	t.Parallel()
	r := startServe(t, testCatalog, nil)
	for _, path := range []string{"/health", "/health", "/ready", "/nothing/here"} {
		get(t, r.api+path)
	}
	if res, _ := get(t, r.api+"/metrics"); res.StatusCode != http.StatusNotFound {
		t.Errorf("public /metrics: got %d, want 404", res.StatusCode)
	}
	res, body := get(t, r.metrics+"/metrics")
	if res.StatusCode != 200 {
		t.Fatalf("metrics listener: got %d", res.StatusCode)
	}
	text := string(body)
	for _, want := range []string{
		`http_request_duration_seconds_count{method="GET",route="GET /health",status="2xx"} 2`,
		`http_request_duration_seconds_count{method="GET",route="unmatched",status="4xx"} 2`,
		`http_requests_in_flight`,
		`db_query_duration_seconds_bucket{`,
		`go_sql_open_connections{`,
		`go_sql_max_open_connections{`,
		`jobs_running`,
		`go_goroutines`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, `route="/nothing/here"`) {
		t.Error("a raw path became a metric label")
	}
	r.stop()
	if err := r.Wait(t); err != nil {
		t.Errorf("serve returned %v after a clean shutdown, want nil", err)
	}
}

// In-process version of the binary test in cmd/rightsize: an in-flight
// request finishes during shutdown, while /ready already says 503.
func TestServeGracefulShutdown(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	release := make(chan struct{})
	catalog := []service.Def{fake("slow", []string{"GET /v1/slow"}, func(mux httpx.Router) {
		mux.Handle("GET /v1/slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			<-release
			fmt.Fprint(w, "done")
		}))
	})}
	r := startServe(t, catalog, map[string]string{"SHUTDOWN_DELAY": "300ms"})

	slow := make(chan *http.Response, 1)
	go func() {
		res, err := http.Get(r.api + "/v1/slow")
		if err != nil {
			t.Error(err)
		}
		slow <- res
	}()
	<-started
	r.stop()

	// During SHUTDOWN_DELAY the listener still answers, and /ready says 503.
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := http.Get(r.api + "/ready")
		if err == nil && res.StatusCode == http.StatusServiceUnavailable {
			res.Body.Close()
			break
		}
		if res != nil {
			res.Body.Close()
		}
		if time.Now().After(deadline) {
			t.Fatal("/ready never turned 503 during shutdown")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	res := <-slow
	if res == nil || res.StatusCode != 200 {
		t.Fatalf("in-flight request: got %v, want 200", res)
	}
	if err := r.Wait(t); err != nil {
		t.Errorf("serve returned %v, want nil", err)
	}
}

// `rightsize worker` serves /health and /ready, and no service's routes.
func TestWorkerMountsNoRoutes(t *testing.T) {
	t.Parallel()
	port := testkit.FreePort(t)
	env := map[string]string{
		"PORT":         fmt.Sprint(port),
		"METRICS_ADDR": "127.0.0.1:0",
		"DATA_DIR":     t.TempDir(),
		"DATABASE_URL": testkit.EmptyDatabaseURL(t),
		"LOG_FORMAT":   "json",
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := new(testkit.Logs)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"rightsize", "worker"}, func(k string) string { return env[k] }, nil, logs, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	line := logs.WaitFor(t, `"msg":"listening"`)
	if !strings.Contains(line, `"services":[]`) {
		t.Errorf("worker's listening line: got %s, want no services", line)
	}
	api := fmt.Sprintf("http://127.0.0.1:%d", port)
	if res, body := get(t, api+"/v1/me"); res.StatusCode != http.StatusNotFound {
		t.Errorf("worker GET /v1/me: got %d %s, want 404: a worker serves no routes", res.StatusCode, body)
	}
	if res, _ := get(t, api+"/ready"); res.StatusCode != http.StatusOK {
		t.Errorf("worker GET /ready: got %d, want 200", res.StatusCode)
	}
}

// Check accepts what a container would start with, and refuses what Run
// would refuse, without serving.
func TestCheck(t *testing.T) {
	t.Parallel()
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	ok := [][]string{
		{"rightsize"},
		{"rightsize", "serve", "--services", "auth", "--worker=false"},
		{"rightsize", "serve", "--services=api,billing"},
		{"rightsize", "worker"},
		{"rightsize", "migrate", "up"},
		{"rightsize", "config"},
	}
	for _, args := range ok {
		if err := Check(args, env(nil)); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
	bad := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"rightsize", "serve", "--services", "orders"}, nil, `unknown service "orders"`},
		{[]string{"rightsize", "migrate"}, nil, "migrate wants one of up, down, status"},
		{[]string{"rightsize", "worker", "--worker=false"}, nil, "belong to serve"},
		{[]string{"rightsize", "version"}, nil, `unknown command "version"`},
		{[]string{"rightsize", "serve"}, map[string]string{"ENV": "production"}, "CURSOR_SECRET"},
		{[]string{"rightsize", "serve"}, map[string]string{"SHUTDOWN_TIMEOUT": "5s", "SHUTDOWN_DELAY": "5s"}, "SHUTDOWN_DELAY"},
	}
	for _, tt := range bad {
		err := Check(tt.args, env(tt.env))
		if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v %v: got %v, want a usage error containing %q", tt.args, tt.env, err, tt.want)
		}
	}
}
