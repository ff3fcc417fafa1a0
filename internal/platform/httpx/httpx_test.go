package httpx_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/httpx"
	"github.com/rightsize/rightsize/internal/platform/testkit"
)

// bodyLimit is the LimitBody cap of the test server.
const bodyLimit = 1024

type testBundle struct {
	srv  *httptest.Server
	logs *testkit.Logs
	reg  *prometheus.Registry
}

// setup starts a server with the middleware chain an app would use, serving
// the routes testRoutes registers.
func setup(t testing.TB, extra ...httpx.Middleware) *testBundle {
	t.Helper()
	logs := &testkit.Logs{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	reg := prometheus.NewRegistry()
	mux := http.NewServeMux()
	testRoutes(mux)
	chain := append([]httpx.Middleware{
		httpx.SecurityHeaders(),
		httpx.RequestID(),
		httpx.LimitBody(bodyLimit),
		httpx.AccessLog(logger, func(ctx context.Context) []slog.Attr {
			return []slog.Attr{slog.Int("db_queries", 0)}
		}),
		httpx.Metrics(reg),
		httpx.Recover(logger),
		httpx.Timeout(time.Minute),
	}, extra...)
	srv := httptest.NewServer(httpx.Chain(httpx.Routes(mux), chain...))
	t.Cleanup(srv.Close)
	return &testBundle{srv: srv, logs: logs, reg: reg}
}

type item struct {
	Name string   `json:"name"`
	Age  int      `json:"age"`
	Tags []string `json:"tags,omitempty"`
}

func (i item) Validate() error {
	var v apperr.Validation
	v.Check(i.Name != "", "name", "is required")
	v.Check(i.Age >= 0, "age", "must not be negative")
	return v.Err()
}

// errorCases are served by GET /errors/{name}.
var errorCases = map[string]error{
	"invalid":         fmt.Errorf("email %q: %w", "x", apperr.ErrInvalid),
	"validation":      (&apperr.Validation{}).Err(), // replaced in init
	"unauthenticated": apperr.ErrUnauthenticated,
	"forbidden":       apperr.ErrForbidden,
	"notfound":        fmt.Errorf("order 42: %w", apperr.ErrNotFound),
	"conflict":        apperr.ErrConflict,
	"toolarge":        apperr.ErrTooLarge,
	"unprocessable":   apperr.ErrUnprocessable,
	"ratelimited":     fmt.Errorf("login: %w", &apperr.Error{Kind: apperr.ErrRateLimited, Message: "slow down", RetryAfter: 1500 * time.Millisecond}),
	"message":         apperr.Wrap(errors.New(`query "SELECT * FROM users": boom`), apperr.ErrConflict, "email taken"),
	"outermost":       apperr.Wrap(fmt.Errorf("order 7 of user 3: %w", apperr.ErrForbidden), apperr.ErrNotFound, "no such order"),
	"unavailable":     fmt.Errorf("stripe at 10.0.0.7: %w", apperr.ErrUnavailable),
	"deadline":        fmt.Errorf("query orders: %w", context.DeadlineExceeded),
	"internal":        errors.New("pq: password authentication failed for user app"),
}

func init() {
	var v apperr.Validation
	v.Add("email", "is required")
	v.Add("age", "must not be negative")
	errorCases["validation"] = v.Err()
}

func testRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		httpx.Encode(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
	})
	mux.HandleFunc("POST /items", func(w http.ResponseWriter, r *http.Request) {
		in, err := httpx.Decode[item](r)
		if err != nil {
			httpx.Error(w, r, err)
			return
		}
		httpx.Encode(w, http.StatusCreated, in)
	})
	mux.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) {
		panic("boom")
	})
	mux.HandleFunc("GET /deadline", func(w http.ResponseWriter, r *http.Request) {
		_, ok := r.Context().Deadline()
		httpx.Encode(w, http.StatusOK, map[string]bool{"has_deadline": ok})
	})
	mux.HandleFunc("GET /dir/", func(w http.ResponseWriter, r *http.Request) {
		httpx.Encode(w, http.StatusOK, "dir")
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		httpx.SetUserID(r.Context(), "user-7")
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /flush", func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).Flush(); err != nil {
			httpx.Error(w, r, err)
			return
		}
		_, _ = io.WriteString(w, "flushed")
	})
	mux.HandleFunc("GET /errors/{name}", func(w http.ResponseWriter, r *http.Request) {
		httpx.Error(w, r, errorCases[r.PathValue("name")])
	})
}

type response struct {
	*http.Response
	body []byte
}

// do sends a request without following redirects.
func (b *testBundle) do(t testing.TB, method, path string, header http.Header, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, b.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	client := *b.srv.Client() // a copy: the server's client is shared by parallel subtests
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp, data}
}

// problem checks that resp is a problem+json with the given status whose
// correlation_id is the response's request ID, and returns it.
func problem(t testing.TB, resp response, status int) httpx.ProblemDetails {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status: got %d, want %d (body %s)", resp.StatusCode, status, resp.body)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/problem+json" {
		t.Fatalf("Content-Type: got %q, want application/problem+json", got)
	}
	var p httpx.ProblemDetails
	if err := json.Unmarshal(resp.body, &p); err != nil {
		t.Fatalf("decoding problem %s: %v", resp.body, err)
	}
	if p.Status != status {
		t.Errorf("problem status: got %d, want %d", p.Status, status)
	}
	if p.Type != "about:blank" || p.Title != http.StatusText(status) {
		t.Errorf("type, title: got %q, %q, want about:blank, %q", p.Type, p.Title, http.StatusText(status))
	}
	if id := resp.Header.Get("X-Request-ID"); p.CorrelationID == "" || p.CorrelationID != id {
		t.Errorf("correlation_id: got %q, want X-Request-ID %q", p.CorrelationID, id)
	}
	return p
}

func TestMuxErrorsAreProblems(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/nowhere", http.StatusNotFound, ""},
		{"DELETE", "/items/1", http.StatusMethodNotAllowed, "GET, HEAD"},
		{"PUT", "/items", http.StatusMethodNotAllowed, "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			resp := b.do(t, tt.method, tt.path, nil, "")
			p := problem(t, resp, tt.status)
			if !strings.Contains(p.Detail, tt.path) {
				t.Errorf("detail: got %q, want it to name %s", p.Detail, tt.path)
			}
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow: got %q, want %q", got, tt.allow)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options: got %q, want nosniff", got)
			}
		})
	}
}

func TestMuxRedirectPassesThrough(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp := b.do(t, "GET", "/dir", nil, "")
	if resp.StatusCode/100 != 3 {
		t.Fatalf("status: got %d, want a redirect", resp.StatusCode)
	}
	if got := resp.Header.Get("Location"); got != "/dir/" {
		t.Errorf("Location: got %q, want /dir/", got)
	}
	if ct := resp.Header.Get("Content-Type"); ct == "application/problem+json" {
		t.Errorf("Content-Type: got %q, want the mux's own redirect", ct)
	}
}

func TestRecover(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := problem(t, b.do(t, "GET", "/panic", nil, ""), http.StatusInternalServerError)
	if p.Detail != "internal error" {
		t.Errorf("detail: got %q, want %q", p.Detail, "internal error")
	}
	if resp := b.do(t, "GET", "/items/1", nil, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("next request: got %d, want 200", resp.StatusCode)
	}
	b.srv.Close() // waits for the handlers, hence for their log lines
	var panics, accesses int
	for _, l := range b.logs.Records(t) {
		switch l["msg"] {
		case "panic":
			panics++
			if l["level"] != "ERROR" || l["request_id"] != p.CorrelationID || l["panic"] != "boom" {
				t.Errorf("panic line: got %v, want ERROR, request_id %s, panic boom", l, p.CorrelationID)
			}
			if s, _ := l["stack"].(string); !strings.Contains(s, "httpx_test.testRoutes") {
				t.Errorf("stack: got %q, want the handler's frame", s)
			}
		case "request":
			if l["route"] == "GET /panic" {
				accesses++
				if l["status"] != 500.0 {
					t.Errorf("access status: got %v, want 500", l["status"])
				}
			}
		}
	}
	if panics != 1 || accesses != 1 {
		t.Errorf("log lines: got %d panic and %d access, want 1 and 1", panics, accesses)
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	b := setup(t)
	long := strings.Repeat("a", 64)
	tests := []struct {
		name, in string
		keep     bool
	}{
		{"absent", "", false},
		{"uuid", "6f1c2d3e-4b5a-6789-abcd-ef0123456789", true},
		{"dots and underscores", "lb.trace_01", true},
		{"64 chars", long, true},
		{"65 chars", long + "a", false},
		{"space", "a b", false},
		{"injection", `x"}{"admin":true`, false},
		{"non-ascii", "é", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tt.in != "" {
				h.Set("X-Request-ID", tt.in)
			}
			got := b.do(t, "GET", "/items/1", h, "").Header.Get("X-Request-ID")
			switch {
			case tt.keep && got != tt.in:
				t.Errorf("X-Request-ID: got %q, want %q echoed", got, tt.in)
			case !tt.keep && (got == tt.in || got == ""):
				t.Errorf("X-Request-ID: got %q, want a fresh ID", got)
			}
		})
	}
}

func TestInfoWithoutRequestID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	httpx.SetUserID(ctx, "u") // must not panic
	if got := httpx.RequestIDFrom(ctx); got != "" {
		t.Errorf("RequestIDFrom: got %q, want empty", got)
	}
	if httpx.InfoFrom(ctx) == nil || httpx.Logger(ctx) == nil {
		t.Error("InfoFrom, Logger: got nil, want usable values")
	}
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	b := setup(t)
	h := http.Header{"X-Request-Id": {"req-1"}}
	b.do(t, "GET", "/items/42", h, "")
	b.do(t, "GET", "/me", http.Header{"X-Request-Id": {"req-2"}}, "")
	b.do(t, "GET", "/nowhere/at/all", http.Header{"X-Request-Id": {"req-3"}}, "")
	b.srv.Close()
	lines := b.logs.Records(t)
	if len(lines) != 3 {
		t.Fatalf("log lines: got %d, want 3:\n%s", len(lines), b.logs.String())
	}
	tests := []struct {
		id, route, path, user string
		status                float64
	}{
		{"req-1", "GET /items/{id}", "/items/42", "", 200},
		{"req-2", "GET /me", "/me", "user-7", 204},
		{"req-3", "unmatched", "/nowhere/at/all", "", 404},
	}
	for _, tt := range tests {
		i := slices.IndexFunc(lines, func(l map[string]any) bool { return l["request_id"] == tt.id })
		if i < 0 {
			t.Errorf("no log line with request_id %s", tt.id)
			continue
		}
		l := lines[i]
		if l["msg"] != "request" || l["level"] != "INFO" || l["method"] != "GET" {
			t.Errorf("%s: got msg %v level %v method %v, want request INFO GET", tt.id, l["msg"], l["level"], l["method"])
		}
		if l["route"] != tt.route || l["path"] != tt.path || l["status"] != tt.status {
			t.Errorf("%s: got route %v path %v status %v, want %s %s %v", tt.id, l["route"], l["path"], l["status"], tt.route, tt.path, tt.status)
		}
		if got, _ := l["user_id"].(string); got != tt.user {
			t.Errorf("%s: user_id got %q, want %q", tt.id, got, tt.user)
		}
		if _, ok := l["duration_ms"].(float64); !ok {
			t.Errorf("%s: duration_ms got %v, want a number", tt.id, l["duration_ms"])
		}
		if l["db_queries"] != 0.0 {
			t.Errorf("%s: db_queries got %v, want the extra attr 0", tt.id, l["db_queries"])
		}
	}
	if got, want := lines[slices.IndexFunc(lines, func(l map[string]any) bool { return l["request_id"] == "req-1" })]["bytes"], float64(len(`{"id":"42"}`+"\n")); got != want {
		t.Errorf("bytes: got %v, want %v", got, want)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.do(t, "GET", "/items/1", nil, "")
	b.do(t, "GET", "/items/2", nil, "")
	b.do(t, "GET", "/no/such/route", nil, "")
	b.do(t, "BREW", "/items/3", nil, "")
	b.srv.Close()

	// Metrics must not panic given another registry, or the same one again.
	httpx.Metrics(prometheus.NewRegistry())
	httpx.Metrics(b.reg)

	families, err := b.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, f := range families {
		switch f.GetName() {
		case "http_request_duration_seconds":
			for _, m := range f.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				got[labels["route"]+"|"+labels["method"]+"|"+labels["status"]] = m.GetHistogram().GetSampleCount()
			}
		case "http_requests_in_flight":
			if v := f.GetMetric()[0].GetGauge().GetValue(); v != 0 {
				t.Errorf("in flight: got %v, want 0", v)
			}
		}
	}
	want := map[string]uint64{
		"GET /items/{id}|GET|2xx": 2,
		"unmatched|GET|4xx":       1,
		"unmatched|OTHER|4xx":     1,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("series: got %v, want %v", got, want)
	}
}

func TestError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tests := []struct {
		name   string
		status int
		detail string
		header map[string]string
		fields []apperr.FieldError
	}{
		{"invalid", 400, "Bad Request", nil, nil},
		{"validation", 400, "invalid input: email: is required; age: must not be negative", nil,
			[]apperr.FieldError{{Field: "email", Message: "is required"}, {Field: "age", Message: "must not be negative"}}},
		{"unauthenticated", 401, "Unauthorized", map[string]string{"WWW-Authenticate": "Bearer"}, nil},
		{"forbidden", 403, "Forbidden", nil, nil},
		{"notfound", 404, "Not Found", nil, nil},
		{"conflict", 409, "Conflict", nil, nil},
		{"toolarge", 413, "Request Entity Too Large", nil, nil},
		{"unprocessable", 422, "Unprocessable Entity", nil, nil},
		{"ratelimited", 429, "slow down", map[string]string{"Retry-After": "2"}, nil},
		{"message", 409, "email taken", nil, nil},
		{"outermost", 404, "no such order", nil, nil},
		{"unavailable", 503, "temporarily unavailable, try again later", nil, nil},
		{"deadline", 503, "request timed out", nil, nil},
		{"internal", 500, "internal error", nil, nil},
	}
	ids := map[string]string{} // request ID → name
	for _, tt := range tests {
		resp := b.do(t, "GET", "/errors/"+tt.name, nil, "")
		p := problem(t, resp, tt.status)
		if p.Detail != tt.detail {
			t.Errorf("%s: detail got %q, want %q", tt.name, p.Detail, tt.detail)
		}
		for k, v := range tt.header {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s: %s got %q, want %q", tt.name, k, got, v)
			}
		}
		if !slices.Equal(p.Errors, tt.fields) {
			t.Errorf("%s: errors got %v, want %v", tt.name, p.Errors, tt.fields)
		}
		ids[p.CorrelationID] = tt.name
	}
	b.srv.Close()
	logged := map[string]int{}
	for _, l := range b.logs.Records(t) {
		name := ids[l["request_id"].(string)]
		want := errorCases[name].Error()
		switch l["msg"] {
		case "request failed":
			logged[name]++
			if l["level"] != "ERROR" || l["err"] != want {
				t.Errorf("%s: logged level %v err %v, want ERROR %q", name, l["level"], l["err"], want)
			}
		case "request":
			// A 4xx's whole error rides on the access line; a 5xx's is on
			// its own ERROR line, and only there.
			if l["status"].(float64) >= 500 {
				want = ""
			}
			if got, _ := l["err"].(string); got != want {
				t.Errorf("%s: access line err got %q, want %q", name, got, want)
			}
		}
	}
	if want := map[string]int{"unavailable": 1, "deadline": 1, "internal": 1}; fmt.Sprint(logged) != fmt.Sprint(want) {
		t.Errorf("5xx causes logged: got %v, want %v", logged, want)
	}
}

// TestErrorDetailIsOnlyTheMessage calls Error directly: whatever the chain
// holds (context, SQL, a kind's text), the client reads only the message
// chosen for it, or the status's standard text.
func TestErrorDetailIsOnlyTheMessage(t *testing.T) {
	t.Parallel()
	sqlCause := errors.New(`query "SELECT * FROM users WHERE email = $1": connection reset`)
	tests := []struct {
		name   string
		err    error
		status int
		detail string
	}{
		{"kind wrapped for context", fmt.Errorf("user %s: %w", "x", apperr.ErrNotFound), 404, "Not Found"},
		{"bare kind", apperr.ErrUnauthenticated, 401, "Unauthorized"},
		{"kind wrapping SQL", fmt.Errorf("%w: %w", apperr.ErrConflict, sqlCause), 409, "Conflict"},
		{"message over SQL", apperr.Wrap(sqlCause, apperr.ErrConflict, "email taken"), 409, "email taken"},
		{"message under context", fmt.Errorf("signup %s: %w", "a@b", apperr.New(apperr.ErrConflict, "email taken")), 409, "email taken"},
		{"empty message", apperr.Wrap(sqlCause, apperr.ErrForbidden, ""), 403, "Forbidden"},
		{"finer kind", fmt.Errorf("upload: %w", apperr.New(apperr.ErrInvalid, "name is too long")), 400, "name is too long"},
		{"client went away", fmt.Errorf("list orders: %w", context.Canceled), 499, "Client Closed Request"},
		{"SQL behind a 5xx", sqlCause, 500, "internal error"},
		// A 503 says what is unavailable, if told: never its cause.
		{"message of a 503", apperr.Wrap(sqlCause, apperr.ErrUnavailable, "billing is not configured"), 503, "billing is not configured"},
		{"bare 503", fmt.Errorf("stripe: %w", apperr.ErrUnavailable), 503, "temporarily unavailable, try again later"},
		{"message behind a 500", apperr.Wrap(sqlCause, errors.New("a bug"), "never shown"), 500, "internal error"},
	}
	forbidden := []string{
		": not found", ": authentication required", ": conflict", ": forbidden",
		"invalid input", "query", "SELECT", "connection reset", "user x", "signup", "upload", "list orders",
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		httpx.Error(rec, httptest.NewRequest("GET", "/", nil), tt.err)
		var p httpx.ProblemDetails
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatalf("%s: body %s: %v", tt.name, rec.Body, err)
		}
		if rec.Code != tt.status || p.Detail != tt.detail {
			t.Errorf("%s: got %d %q, want %d %q", tt.name, rec.Code, p.Detail, tt.status, tt.detail)
		}
		for _, f := range forbidden {
			if strings.Contains(p.Detail, f) {
				t.Errorf("%s: detail %q contains %q", tt.name, p.Detail, f)
			}
		}
	}
}

// TestDatabaseErrorIsLoggedNotShown sends a real query's error through the
// chain: the client reads "internal error", the log names the statement,
// redacted.
func TestDatabaseErrorIsLoggedNotShown(t *testing.T) {
	t.Parallel()
	// No tables at all: the query fails as a real one would.
	db := testkit.NewEmptyDB(t)
	logs := &testkit.Logs{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	h := httpx.Chain(httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		var body string
		err := db.QueryRow(r.Context(), "SELECT body FROM no_such_table\nWHERE owner = 'hunter2' AND id = $1", 7).Scan(&body)
		if err != nil {
			return fmt.Errorf("load note %d: %w", 7, err)
		}
		return nil
	}), httpx.RequestID(), httpx.AccessLog(logger))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/notes/7", nil))

	var p httpx.ProblemDetails
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	if rec.Code != 500 || p.Detail != "internal error" {
		t.Errorf("got %d %q, want 500 %q", rec.Code, p.Detail, "internal error")
	}
	if strings.Contains(rec.Body.String(), "no_such_table") {
		t.Errorf("body %s names the table", rec.Body)
	}
	var failed []map[string]any
	for _, l := range logs.Records(t) {
		if l["msg"] == "request failed" {
			failed = append(failed, l)
		}
	}
	if len(failed) != 1 {
		t.Fatalf("got %d request failed lines, want 1:\n%s", len(failed), logs)
	}
	got, _ := failed[0]["err"].(string)
	if want := `load note 7: query "SELECT body FROM no_such_table": `; !strings.HasPrefix(got, want) {
		t.Errorf("logged err %q, want it to start with %q", got, want)
	}
	if failed[0]["request_id"] != p.CorrelationID {
		t.Errorf("logged request_id %v, want the correlation_id %s", failed[0]["request_id"], p.CorrelationID)
	}
	if strings.Contains(logs.String(), "hunter2") {
		t.Error("a literal value reached the log")
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp := b.do(t, "GET", "/deadline", nil, "")
	if got := strings.TrimSpace(string(resp.body)); got != `{"has_deadline":true}` {
		t.Errorf("body: got %s, want the handler to see a deadline", got)
	}
}

func TestResponseControllerThroughWrappers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp := b.do(t, "GET", "/flush", nil, "")
	if resp.StatusCode != http.StatusOK || string(resp.body) != "flushed" {
		t.Errorf("got %d %q, want 200 flushed", resp.StatusCode, resp.body)
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	want := map[string]string{
		"X-Content-Type-Options":       "nosniff",
		"X-Frame-Options":              "DENY",
		"Referrer-Policy":              "no-referrer",
		"Content-Security-Policy":      "default-src 'none'; frame-ancestors 'none'",
		"Cross-Origin-Resource-Policy": "same-origin",
		"Cache-Control":                "no-store",
	}
	for _, path := range []string{"/items/1", "/nowhere", "/panic"} {
		resp := b.do(t, "GET", path, nil, "")
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s: %s got %q, want %q", path, k, got, v)
			}
		}
	}
}

// no-store is a default: a handler whose answer may be cached says so.
func TestSecurityHeadersCacheControlIsADefault(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.Handle("GET /public", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		httpx.Encode(w, http.StatusOK, map[string]string{"keys": "…"})
	}))
	mux.Handle("GET /token", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.Encode(w, http.StatusOK, map[string]string{"access_token": "…"})
	}))
	srv := httptest.NewServer(httpx.Chain(httpx.Routes(mux), httpx.SecurityHeaders(), httpx.RequestID()))
	t.Cleanup(srv.Close)
	b := &testBundle{srv: srv}
	for path, want := range map[string]string{"/public": "public, max-age=300", "/token": "no-store", "/nowhere": "no-store"} {
		if got := b.do(t, "GET", path, nil, "").Header.Values("Cache-Control"); len(got) != 1 || got[0] != want {
			t.Errorf("%s: Cache-Control got %q, want %q", path, got, want)
		}
	}
}

func TestRequireHTTPS(t *testing.T) {
	t.Parallel()
	b := setup(t, httpx.RequireHTTPS())
	host := strings.TrimPrefix(b.srv.URL, "http://")
	tests := []struct {
		name, proto string
		status      int
		location    string
	}{
		{"plain http", "http", http.StatusPermanentRedirect, "https://" + host + "/items/1?a=b&c=%2F"},
		{"https", "https", http.StatusOK, ""},
		{"no header (direct)", "", http.StatusOK, ""},
		{"client-spoofed then proxy http", "https, http", http.StatusPermanentRedirect, "https://" + host + "/items/1?a=b&c=%2F"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tt.proto != "" {
				h.Set("X-Forwarded-Proto", tt.proto)
			}
			resp := b.do(t, "POST", "/items/1?a=b&c=%2F", h, "")
			if tt.status == http.StatusOK {
				tt.status = http.StatusMethodNotAllowed // reached the mux
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status: got %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Location"); got != tt.location {
				t.Errorf("Location: got %q, want %q", got, tt.location)
			}
			if got, want := resp.Header.Get("Strict-Transport-Security"), "max-age=63072000; includeSubDomains"; got != want {
				t.Errorf("HSTS: got %q, want %q", got, want)
			}
		})
	}
}

func TestChainOrder(t *testing.T) {
	t.Parallel()
	var order []string
	mw := func(name string) httpx.Middleware {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				order = append(order, name)
				next.ServeHTTP(w, r)
			})
		}
	}
	h := httpx.Chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { order = append(order, "h") }),
		mw("a"), mw("b"))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if got, want := strings.Join(order, ","), "a,b,h"; got != want {
		t.Errorf("order: got %s, want %s", got, want)
	}
}

func TestHandlerFuncWritesItsError(t *testing.T) {
	t.Parallel()
	h := httpx.Chain(httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if r.URL.Query().Get("ok") == "" {
			return fmt.Errorf("widget 7: %w", apperr.ErrNotFound)
		}
		httpx.Encode(w, http.StatusOK, map[string]string{"widget": "7"})
		return nil
	}), httpx.RequestID())
	for _, tt := range []struct {
		query string
		want  int
		ct    string
	}{
		{"", http.StatusNotFound, "application/problem+json"},
		{"?ok=1", http.StatusOK, "application/json"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/widgets/7"+tt.query, nil))
		if rec.Code != tt.want || !strings.HasPrefix(rec.Header().Get("Content-Type"), tt.ct) {
			t.Errorf("%q: got %d %s, want %d %s", tt.query, rec.Code, rec.Header().Get("Content-Type"), tt.want, tt.ct)
		}
	}
}
