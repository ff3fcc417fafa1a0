package auth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/rightsize/rightsize/internal/auth"
	"github.com/rightsize/rightsize/internal/jobs"
	"github.com/rightsize/rightsize/internal/platform/authn"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/httpx"
	"github.com/rightsize/rightsize/internal/platform/id"
	"github.com/rightsize/rightsize/internal/platform/mail"
	"github.com/rightsize/rightsize/internal/platform/ratelimit"
	"github.com/rightsize/rightsize/internal/platform/resilience"
	"github.com/rightsize/rightsize/internal/platform/testkit"
)

const publicURL = "http://app.test"

// testBundle is one auth service on a database of its own, with River
// working its jobs and mailing through an in-process SMTP server.
type testBundle struct {
	db   *database.DB
	jobs *jobs.Client
	smtp *testkit.SMTP
	// mailer sends through smtp, as the mail.send worker does.
	mailer mail.Mailer
	srv    *httptest.Server
	// handler is srv's handler, for benchmarks that skip the network.
	handler http.Handler
}

// setup builds the bundle. Each option may change the service's options
// before it is built; by default the rate limits are too loose to matter.
func setup(tb testing.TB, opts ...func(*auth.Options)) *testBundle {
	tb.Helper()
	ctx := context.Background()
	dbOpts := testkit.DBOptions(tb)
	db, err := database.Open(ctx, dbOpts)
	if err != nil {
		tb.Fatalf("open database: %v", err)
	}
	tb.Cleanup(func() { db.Close() })

	smtpServer := testkit.SMTPServer(tb)
	mailer, err := mail.NewSMTP(smtpServer.URL(), "Rightsize <noreply@rightsize.test>",
		resilience.NewBreaker("smtp", resilience.Settings{Timeout: 10 * time.Second}, nil))
	if err != nil {
		tb.Fatalf("SMTP mailer: %v", err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &mail.SendWorker{Mailer: mailer})
	auth.RegisterWorkers(workers, db, mailer, publicURL)
	jobOpts := jobs.Options{Work: true, Concurrency: 4}
	if db.Dialect() == database.Postgres {
		jobOpts.PostgresURL = dbOpts.DSN
	}
	jc, err := jobs.New(ctx, db, workers, jobOpts)
	if err != nil {
		tb.Fatalf("jobs: %v", err)
	}
	if err := jc.Start(ctx); err != nil {
		tb.Fatalf("jobs: %v", err)
	}
	// Registered after the database's cleanup, so it runs before it.
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := jc.Stop(ctx); err != nil {
			tb.Errorf("stop jobs: %v", err)
		}
		jc.Close()
	})

	seed, err := authn.GenerateSeed()
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := authn.ParseKeys(seed)
	if err != nil {
		tb.Fatal(err)
	}
	loose := ratelimit.Rate{Events: 100_000, Per: time.Minute}
	o := auth.Options{
		DB:              db,
		Jobs:            jc,
		Keys:            keys,
		PublicURL:       publicURL,
		AccessTokenTTL:  15 * time.Minute,
		RefreshTokenTTL: 30 * 24 * time.Hour,
		IPLimit:         ratelimit.New(loose, 1000),
		AccountLimit:    ratelimit.New(loose, 1000),
		CursorSecret:    []byte(rand.Text()),
	}
	for _, opt := range opts {
		opt(&o)
	}

	mux := http.NewServeMux()
	guard := authn.Require(authn.NewAuthenticator(keys, auth.APIKeyLookup(db), nil))
	auth.New(o).Routes(guardedMux{mux: mux, guard: guard})
	h := httpx.Chain(httpx.Routes(mux), httpx.RequestID(), httpx.AccessLog(slog.New(slog.DiscardHandler)))
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return &testBundle{db: db, jobs: jc, smtp: smtpServer, mailer: mailer, srv: srv, handler: h}
}

// guardedMux is the app's rule in small: every route not in auth.Public
// requires credentials.
type guardedMux struct {
	mux   *http.ServeMux
	guard httpx.Middleware
}

func (g guardedMux) Handle(pattern string, h http.Handler) {
	if !slices.Contains(auth.Public, pattern) {
		h = g.guard(h)
	}
	g.mux.Handle(pattern, h)
}

// response is an answer of the server, its JSON body decoded.
type response struct {
	status int
	header http.Header
	body   map[string]any
}

// call sends body (a string is sent as is, anything else as its JSON) with
// bearer as the credential, if not empty.
func (b *testBundle) call(tb testing.TB, method, path, bearer string, body any) response {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		raw, ok := body.(string)
		if !ok {
			j, err := json.Marshal(body)
			if err != nil {
				tb.Fatal(err)
			}
			raw = string(j)
		}
		rd = strings.NewReader(raw)
	}
	req, err := http.NewRequest(method, b.srv.URL+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := b.srv.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	r := response{status: res.StatusCode, header: res.Header}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			tb.Fatalf("%s %s: body is not a JSON object: %v\n%s", method, path, err, raw)
		}
	}
	return r
}

// want is call that fails the test unless the answer has status.
func (b *testBundle) want(tb testing.TB, status int, method, path, bearer string, body any) map[string]any {
	tb.Helper()
	r := b.call(tb, method, path, bearer, body)
	if r.status != status {
		tb.Fatalf("%s %s: got %d %v, want %d", method, path, r.status, r.body, status)
	}
	return r.body
}

// errorFields returns the fields a problem+json body names as invalid.
func errorFields(body map[string]any) []string {
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

// wantInvalid fails the test unless r is a 400 naming field, and only it.
func wantInvalid(tb testing.TB, r response, field string) {
	tb.Helper()
	if r.status != http.StatusBadRequest {
		tb.Fatalf("got %d %v, want 400", r.status, r.body)
	}
	if got := errorFields(r.body); !slices.Equal(slices.Compact(got), []string{field}) {
		tb.Fatalf("invalid fields: got %q, want [%q]; body %v", got, field, r.body)
	}
}

// keysOf returns the sorted keys of a JSON object: the shape of a body.
func keysOf(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// hashes memoizes argon2id hashes by password: at the default parameters
// each costs tens of milliseconds, hundreds under the race detector.
var hashes sync.Map

func passwordHash(tb testing.TB, pw string) string {
	tb.Helper()
	if h, ok := hashes.Load(pw); ok {
		return h.(string)
	}
	h, err := auth.HashPassword(pw, auth.DefaultPasswordParams)
	if err != nil {
		tb.Fatalf("HashPassword: %v", err)
	}
	hashes.Store(pw, h)
	return h
}

// addUser stores an account directly, verified or not, so that tests of
// what comes after signup neither sign up nor read a verification mail.
// It returns the user's ID.
func (b *testBundle) addUser(tb testing.TB, email, pw string, verified bool) string {
	tb.Helper()
	now := time.Now().UTC()
	var verifiedAt *time.Time
	if verified {
		verifiedAt = &now
	}
	userID := id.New("usr")
	_, err := b.db.Exec(context.Background(), `INSERT INTO users (id, email, name, password_hash, email_verified_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6)`, userID, email, "Test User", passwordHash(tb, pw), verifiedAt, now)
	if err != nil {
		tb.Fatalf("add user %s: %v", email, err)
	}
	return userID
}

// login returns a new session's access and refresh tokens.
func (b *testBundle) login(tb testing.TB, email, pw string) (access, refresh string) {
	tb.Helper()
	out := b.want(tb, http.StatusOK, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": pw})
	access, _ = out["access_token"].(string)
	refresh, _ = out["refresh_token"].(string)
	if access == "" || refresh == "" {
		tb.Fatalf("login: got %v, want access and refresh tokens", out)
	}
	return access, refresh
}

// count runs a SELECT COUNT(*) query.
func (b *testBundle) count(tb testing.TB, query string, args ...any) int {
	tb.Helper()
	var n int
	if err := b.db.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}

// waitJobs waits until at least n jobs of kind exist and all of them are
// completed, polling River's table. A job that can no longer complete
// fails the test at once.
func (b *testBundle) waitJobs(tb testing.TB, kind string, n int) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows, err := b.db.Query(context.Background(), `SELECT state, COUNT(*) FROM river_job WHERE kind = $1 GROUP BY state`, kind)
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

// assertNoMailYet proves that the SMTP server has received nothing so far:
// it sends a sentinel through the same server and checks that the first
// message waiting is the sentinel.
func (b *testBundle) assertNoMailYet(tb testing.TB) {
	tb.Helper()
	const sentinel = "sentinel@rightsize.test"
	if err := b.mailer.Send(context.Background(), mail.Message{To: sentinel, Subject: "sentinel", Text: "."}); err != nil {
		tb.Fatalf("send sentinel: %v", err)
	}
	if m := b.smtp.Wait(tb, 30*time.Second); !slices.Equal(m.To, []string{sentinel}) {
		tb.Fatalf("got a mail to %v (%q), want none before the sentinel", m.To, m.Header.Get("Subject"))
	}
}

var tokenInLink = regexp.MustCompile(`\?token=([A-Za-z0-9%_.~-]+)`)

// linkToken returns the token of the link starting with prefix in text.
func linkToken(tb testing.TB, text, prefix string) string {
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

// waitMail returns the next message, and fails the test unless it is to
// to with a subject containing subject.
func (b *testBundle) waitMail(tb testing.TB, to, subject string) testkit.Received {
	tb.Helper()
	m := b.smtp.Wait(tb, 30*time.Second)
	if !slices.Equal(m.To, []string{to}) {
		tb.Fatalf("mail to %v, want [%s]", m.To, to)
	}
	if got := m.Header.Get("Subject"); !strings.Contains(got, subject) {
		tb.Fatalf("mail subject %q, want it to contain %q", got, subject)
	}
	return m
}
