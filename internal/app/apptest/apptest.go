// Package apptest runs rightsize in a test: the real App (every service of
// the catalog on the real platform), behind the real middleware chain, with
// real River working its jobs, on a fresh database of the test's own, mailing
// through an in-process SMTP server. Service tests use it, so that they run
// behind exactly what production runs.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/app"
	"github.com/rightsize/rightsize/internal/jobs"
	"github.com/rightsize/rightsize/internal/platform/authn"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/testkit"
)

// Schema is every service's schema and River's: what a database of
// production holds.
var Schema = testkit.Schema{
	Key: "app-" + testkit.FSKey(testkit.ModuleVersion("github.com/riverqueue/river"), app.MigrationFiles()...),
	Apply: func(ctx context.Context, db *database.DB) error {
		_, _, err := app.Migrate(ctx, db)
		return err
	},
}

// DatabaseURL returns a DATABASE_URL naming a fresh database of tb's own
// holding Schema, for tests that run the whole program.
func DatabaseURL(tb testing.TB) string {
	tb.Helper()
	return testkit.DatabaseURL(tb, Schema)
}

// Server is rightsize running for one test.
type Server struct {
	// URL is the base URL of the public listener.
	URL string
	// Handler is the public handler, for benchmarks that skip the network.
	Handler http.Handler
	// App is rightsize itself, for tests that call a service's operations
	// (App.Service).
	App  *app.App
	DB   *database.DB
	Jobs *jobs.Client
	// Routes is every route the mounted services register.
	Routes []app.Route
	// PlatformRoutes is every route of the platform itself (/health,
	// /openapi.json, ...).
	PlatformRoutes []app.Route
	// OpenAPI is the document the server serves at /openapi.json, which
	// every request made through the Server is checked against (see
	// [Contract]).
	OpenAPI  []byte
	contract *Contract
	// lenient turns the check of requests off (SkipRequestChecks).
	lenient atomic.Bool
	// tb is Start's, for Do and DoHeader, which take none.
	tb testing.TB
	// SMTP receives every mail the workers send.
	SMTP *testkit.SMTP
	// Logs holds every log line, JSON.
	Logs   *testkit.Logs
	client *http.Client
}

// PasswordHash is the PASSWORD_HASH a Server runs with: cheap argon2id
// costs. At the default costs a hash takes about 40 ms, and 160 ms
// under the race detector, which was half the CPU of the test run. The
// default costs are tested by package auth's hash tests and by the tests
// that run the built binary (cmd/rightsize).
const PasswordHash = "m=64,t=1,p=1"

// Start runs rightsize until tb ends, configured by env on top of test
// defaults: every service mounted, the worker on, rate limits loose enough
// not to matter, cheap password hashes (PasswordHash), mail through s.SMTP,
// a fresh database, a fresh signing key.
func Start(tb testing.TB, env map[string]string) *Server {
	tb.Helper()
	smtp := testkit.SMTPServer(tb)
	seed, err := authn.GenerateSeed()
	if err != nil {
		tb.Fatal(err)
	}
	vars := map[string]string{
		"DATABASE_URL":               DatabaseURL(tb),
		"DATA_DIR":                   tb.TempDir(),
		"SMTP_URL":                   smtp.URL(),
		"MAIL_FROM":                  "Rightsize <noreply@rightsize.test>",
		"PUBLIC_URL":                 "http://app.test",
		"AUTH_SIGNING_KEY":           seed,
		"LOG_FORMAT":                 "json",
		"LOG_LEVEL":                  "debug",
		"RATE_LIMIT_AUTH":            "100000/min",
		"RATE_LIMIT_ACCOUNT":         "100000/min",
		"RATE_LIMIT_API":             "100000/min",
		"RATE_LIMIT_BAD_CREDENTIALS": "100000/min",
		"WORKER_CONCURRENCY":         "4",
		"PASSWORD_HASH":              PasswordHash,
	}
	for k, v := range env {
		vars[k] = v
	}
	logs := &testkit.Logs{}
	ctx := context.Background()
	a, err := app.New(ctx, func(name string) string { return vars[name] }, logs)
	if err != nil {
		tb.Fatalf("build rightsize: %v", err)
	}
	if err := a.Start(ctx); err != nil {
		a.Close()
		tb.Fatalf("start rightsize: %v", err)
	}
	contract, err := ContractFor(a.OpenAPI())
	if err != nil {
		a.Close()
		tb.Fatalf("rightsize's OpenAPI document: %v", err)
	}
	h := a.Handler()
	srv := httptest.NewServer(h)
	// Cleanups run last-registered first: the server, then jobs, then the
	// database (registered by DatabaseURL above, so it runs after these).
	tb.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			tb.Errorf("stop jobs: %v", err)
		}
		a.Close()
	})
	d := a.Deps()
	return &Server{
		URL: srv.URL, Handler: h, App: a, DB: d.DB, Jobs: d.Jobs, Routes: a.Routes(), PlatformRoutes: a.PlatformRoutes(),
		OpenAPI: a.OpenAPI(), contract: contract, tb: tb, SMTP: smtp, Logs: logs, client: srv.Client(),
	}
}

// SkipRequestChecks stops checking requests against the OpenAPI document
// (responses are still checked), for fuzz tests: encoding/json, behind
// httpx.Decode, accepts bodies the document refuses (a field name in
// another case, "EMAIL" for "email"; a key given twice), and a fuzzer finds
// them.
func (s *Server) SkipRequestChecks() { s.lenient.Store(true) }

// Response is an answer of the server, its JSON body decoded.
type Response struct {
	Status int
	Header http.Header
	Body   map[string]any
}

// Call sends body (a string is sent as is, anything else as its JSON) with
// bearer as the credential, if not empty, and fails the test if the request
// cannot be made. The exchange is checked against the OpenAPI document (see
// [Contract]); a disagreement fails the test too. Call it on the test's
// goroutine only; elsewhere use Do.
func (s *Server) Call(tb testing.TB, method, path, bearer string, body any) Response {
	tb.Helper()
	r, err := s.do(tb, method, path, bearerHeader(bearer), body)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// Do is Call returning its error instead of failing the test: for
// goroutines a test starts, since t.Fatal must run on the test's own. A
// disagreement with the OpenAPI document still fails the test (with
// Errorf, which any goroutine may call).
func (s *Server) Do(method, path, bearer string, body any) (Response, error) {
	return s.do(s.tb, method, path, bearerHeader(bearer), body)
}

func bearerHeader(bearer string) http.Header {
	h := http.Header{}
	if bearer != "" {
		h.Set("Authorization", "Bearer "+bearer)
	}
	return h
}

// CallHeader is Call with request headers of the test's choosing
// (Authorization, X-Forwarded-For, Origin, ...).
func (s *Server) CallHeader(tb testing.TB, method, path string, header http.Header, body any) Response {
	tb.Helper()
	r, err := s.do(tb, method, path, header, body)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// DoHeader is CallHeader returning its error instead of failing the test.
func (s *Server) DoHeader(method, path string, header http.Header, body any) (Response, error) {
	return s.do(s.tb, method, path, header, body)
}

func (s *Server) do(tb testing.TB, method, path string, header http.Header, body any) (Response, error) {
	tb.Helper()
	var sent []byte
	var rd io.Reader
	if body != nil {
		raw, ok := body.(string)
		if !ok {
			j, err := json.Marshal(body)
			if err != nil {
				return Response{}, err
			}
			raw = string(j)
		}
		sent = []byte(raw)
		rd = strings.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		return Response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := s.client.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return Response{}, err
	}
	check := s.contract.Check
	if s.lenient.Load() {
		check = s.contract.CheckResponse
	}
	for _, msg := range check(req, sent, res, raw) {
		tb.Errorf("disagrees with the OpenAPI document: %s", msg)
	}
	r := Response{Status: res.StatusCode, Header: res.Header}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			return r, fmt.Errorf("%s %s: body is not a JSON object: %v\n%s", method, path, err, raw)
		}
	}
	return r, nil
}

// Want is Call that fails the test unless the answer has status; it returns
// the body.
func (s *Server) Want(tb testing.TB, status int, method, path, bearer string, body any) map[string]any {
	tb.Helper()
	r := s.Call(tb, method, path, bearer, body)
	if r.Status != status {
		tb.Fatalf("%s %s: got %d %v, want %d", method, path, r.Status, r.Body, status)
	}
	return r.Body
}

// Count runs a SELECT COUNT(*) query.
func (s *Server) Count(tb testing.TB, query string, args ...any) int {
	tb.Helper()
	var n int
	if err := s.DB.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}

// WaitJobs waits until at least n jobs of kind exist and all of them are
// completed, polling River's table. A job that can no longer complete fails
// the test at once.
func (s *Server) WaitJobs(tb testing.TB, kind string, n int) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows, err := s.DB.Query(context.Background(), `SELECT state, COUNT(*) FROM river_job WHERE kind = $1 GROUP BY state`, kind)
		if err != nil {
			tb.Fatalf("river_job: %v", err)
		}
		states := map[string]int{}
		total := 0
		for rows.Next() {
			var state string
			var c int
			if err := rows.Scan(&state, &c); err != nil {
				tb.Fatal(err)
			}
			states[state] = c
			total += c
		}
		if err := rows.Close(); err != nil {
			tb.Fatal(err)
		}
		if states["discarded"]+states["cancelled"] > 0 {
			tb.Fatalf("jobs %s: got states %v, want all completed", kind, states)
		}
		if total >= n && states["completed"] == total {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("jobs %s: got states %v after 30s, want %d or more, all completed", kind, states, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitMail returns the next message, and fails the test unless it is to to
// with a subject containing subject.
func (s *Server) WaitMail(tb testing.TB, to, subject string) testkit.Received {
	tb.Helper()
	m := s.SMTP.Wait(tb, 30*time.Second)
	if !slices.Equal(m.To, []string{to}) {
		tb.Fatalf("mail to %v, want [%s]", m.To, to)
	}
	if got := m.Header.Get("Subject"); !strings.Contains(got, subject) {
		tb.Fatalf("mail subject %q, want it to contain %q", got, subject)
	}
	return m
}

var tokenInLink = regexp.MustCompile(`\?token=([A-Za-z0-9%_.~-]+)`)

// LinkToken returns the token of the link starting with prefix in text.
func LinkToken(tb testing.TB, text, prefix string) string {
	tb.Helper()
	i := strings.Index(text, prefix)
	if i < 0 {
		tb.Fatalf("no link to %s in %q", prefix, text)
	}
	m := tokenInLink.FindStringSubmatch(text[i+len(prefix):])
	if m == nil {
		tb.Fatalf("no token in the link to %s in %q", prefix, text)
	}
	tok, err := url.QueryUnescape(m[1])
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// ErrorFields returns the fields a problem+json body names as invalid.
func ErrorFields(body map[string]any) []string {
	list, _ := body["errors"].([]any)
	var fields []string
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			f, _ := m["field"].(string)
			fields = append(fields, f)
		}
	}
	return fields
}
