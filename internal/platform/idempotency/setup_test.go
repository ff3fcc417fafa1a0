package idempotency_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/authn"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/httpx"
	"github.com/rightsize/rightsize/internal/platform/idempotency"
	"github.com/rightsize/rightsize/internal/platform/testkit"
)

var schema = idempotency.TestSchema

// clock is a time the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const (
	testTTL   = 24 * time.Hour
	testLease = time.Minute
)

type testBundle struct {
	db      *database.DB
	store   *idempotency.Store
	clock   *clock
	handler http.Handler // the whole chain, as the server runs it
	srv     *httptest.Server
	logs    testkit.Logs
	runs    atomic.Int64
	// A request whose body says "block" signals started once it runs, then
	// waits for release.
	started chan struct{}
	release chan struct{}
}

// setup serves every path with a handler behind the middleware, as a
// service mounts it: inside RequestID, AccessLog, Recover and
// authentication (here: the user named by X-User, if any).
func setup(t testing.TB, o idempotency.Options) *testBundle {
	t.Helper()
	b := &testBundle{
		db:      testkit.NewDB(t, schema),
		clock:   &clock{t: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)},
		started: make(chan struct{}),
		release: make(chan struct{}),
	}
	o.Now = b.clock.Now
	if o.TTL == 0 {
		o.TTL = testTTL
	}
	if o.Lease == 0 {
		o.Lease = testLease
	}
	b.store = idempotency.New(b.db, o)
	// The middleware's own lines are warnings; the access log's are not
	// needed, and would pile up under the fuzzer.
	logger := slog.New(slog.NewJSONHandler(&b.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b.handler = httpx.Chain(b.thingHandler(),
		httpx.RequestID(),
		httpx.AccessLog(logger),
		httpx.Recover(logger),
		fakeAuth,
		b.store.Middleware(),
	)
	b.srv = httptest.NewServer(b.handler)
	t.Cleanup(b.srv.Close)
	return b
}

func fakeAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := r.Header.Get("X-User"); u != "" {
			r = r.WithContext(authn.WithPrincipal(r.Context(), authn.Principal{UserID: u}))
		}
		next.ServeHTTP(w, r)
	})
}

// thingInput says what the handler should do.
type thingInput struct {
	Name  string `json:"name"`
	Fail  int    `json:"fail,omitempty"` // 400, 409 or 500
	Panic bool   `json:"panic,omitempty"`
	Block bool   `json:"block,omitempty"`
	Flush bool   `json:"flush,omitempty"`
	Pad   int    `json:"pad,omitempty"` // bytes of padding in the answer
}

// thingHandler creates a "thing": 201 with a Location and the run's number,
// so that tests can tell which run an answer came from.
func (b *testBundle) thingHandler() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		run := b.runs.Add(1)
		in, err := httpx.Decode[thingInput](r)
		if err != nil {
			return err
		}
		if in.Block {
			// A test that waits for neither fails on the answer, not by hanging.
			select {
			case b.started <- struct{}{}:
			case <-time.After(5 * time.Second):
				return errors.New("blocked handler: nobody waited for it to start")
			}
			select {
			case <-b.release:
			case <-time.After(5 * time.Second):
				return errors.New("blocked handler: never released")
			}
		}
		switch {
		case in.Fail == http.StatusBadRequest:
			var v apperr.Validation
			v.Add("name", "is not allowed")
			return v.Err()
		case in.Fail == http.StatusConflict:
			return apperr.New(apperr.ErrConflict, "name taken")
		case in.Fail != 0:
			return errors.New("the database is on fire")
		case in.Panic:
			panic("handler panics")
		}
		key, _ := idempotency.KeyFrom(r.Context())
		w.Header().Set("Location", "/v1/things/"+strconv.FormatInt(run, 10))
		w.Header().Set("X-Handler", "yes")
		if in.Flush {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"run":`+strconv.FormatInt(run, 10)+`,`)
			if err := http.NewResponseController(w).Flush(); err != nil {
				return err
			}
			io.WriteString(w, `"flushed":true}`)
			return nil
		}
		httpx.Encode(w, http.StatusCreated, map[string]any{
			"run": run, "name": in.Name, "key": key, "pad": strings.Repeat("x", in.Pad),
		})
		return nil
	})
}

// call is one request: POST /v1/things by user "usr_a" unless it says
// otherwise, with each of keys as an Idempotency-Key header.
type call struct {
	method, path, user string
	body               any // thingInput, or a string sent as is
	keys               []string
	noUser             bool
}

type result struct {
	status int
	header http.Header
	body   []byte
}

func (c call) request(t testing.TB, base string) *http.Request {
	t.Helper()
	var body []byte
	switch v := c.body.(type) {
	case string:
		body = []byte(v)
	default:
		var err error
		if body, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	method, path, user := c.method, c.path, c.user
	if method == "" {
		method = http.MethodPost
	}
	if path == "" {
		path = "/v1/things"
	}
	if user == "" && !c.noUser {
		user = "usr_a"
	}
	r, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	if user != "" {
		r.Header.Set("X-User", user)
	}
	for _, k := range c.keys {
		r.Header.Add("Idempotency-Key", k)
	}
	return r
}

// do sends c to the test server.
func (b *testBundle) do(t testing.TB, c call) result {
	t.Helper()
	resp, err := b.srv.Client().Do(c.request(t, b.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{status: resp.StatusCode, header: resp.Header, body: body}
}

// serve runs c through the server's handler without a network, for header
// values an HTTP client refuses to send.
func (b *testBundle) serve(t testing.TB, c call) result {
	t.Helper()
	r := c.request(t, "http://example.test")
	w := httptest.NewRecorder()
	b.handler.ServeHTTP(w, r)
	return result{status: w.Code, header: w.Header(), body: w.Body.Bytes()}
}

// run is the run number an answer of thingHandler reports.
func (res result) run(t testing.TB) int64 {
	t.Helper()
	var v struct {
		Run int64 `json:"run"`
	}
	if err := json.Unmarshal(res.body, &v); err != nil {
		t.Fatalf("answer %d %s: %v", res.status, res.body, err)
	}
	return v.Run
}

func (res result) problem(t testing.TB) httpx.ProblemDetails {
	t.Helper()
	if ct := res.header.Get("Content-Type"); ct != httpx.ContentTypeProblem {
		t.Errorf("Content-Type %q, want %q (body %s)", ct, httpx.ContentTypeProblem, res.body)
	}
	var p httpx.ProblemDetails
	if err := json.Unmarshal(res.body, &p); err != nil {
		t.Fatalf("problem body %s: %v", res.body, err)
	}
	return p
}

func wantStatus(t testing.TB, res result, want int) {
	t.Helper()
	if res.status != want {
		t.Fatalf("status %d, want %d; body %s", res.status, want, res.body)
	}
}

func (b *testBundle) wantRuns(t testing.TB, want int64) {
	t.Helper()
	if got := b.runs.Load(); got != want {
		t.Errorf("handler ran %d times, want %d", got, want)
	}
}

func (b *testBundle) countRows(t testing.TB) int {
	t.Helper()
	var n int
	if err := b.db.QueryRow(context.Background(), `SELECT count(*) FROM idempotency_keys`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
