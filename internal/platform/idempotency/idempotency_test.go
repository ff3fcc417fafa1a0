package idempotency_test

import (
	"bytes"
	"context"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/idempotency"
	"github.com/rightsize/rightsize/internal/platform/testkit"
)

func TestReplay(t *testing.T) {
	t.Parallel()
	for _, flush := range []bool{false, true} {
		t.Run(map[bool]string{false: "encoded", true: "flushed midway"}[flush], func(t *testing.T) {
			t.Parallel()
			b := setup(t, idempotency.Options{})
			c := call{body: thingInput{Name: "one", Flush: flush}, keys: []string{"key-1"}}

			first := b.do(t, c)
			wantStatus(t, first, http.StatusCreated)
			if got := first.header.Get("Idempotent-Replayed"); got != "" {
				t.Errorf("first answer: Idempotent-Replayed %q, want none", got)
			}
			if got := first.header.Get("X-Handler"); got != "yes" {
				t.Errorf("first answer: X-Handler %q, want the handler's header", got)
			}
			if !flush && !bytes.Contains(first.body, []byte(`"key":"key-1"`)) {
				t.Errorf("first answer %s: want the key, as KeyFrom gave it to the handler", first.body)
			}

			for range 2 {
				again := b.do(t, c)
				wantStatus(t, again, http.StatusCreated)
				if !bytes.Equal(again.body, first.body) {
					t.Errorf("replayed body %q, want %q", again.body, first.body)
				}
				for _, h := range []string{"Content-Type", "Location"} {
					if got, want := again.header.Get(h), first.header.Get(h); got != want || want == "" {
						t.Errorf("replayed %s %q, want %q", h, got, want)
					}
				}
				if got := again.header.Get("Idempotent-Replayed"); got != "true" {
					t.Errorf("replay: Idempotent-Replayed %q, want true", got)
				}
			}
			b.wantRuns(t, 1)
		})
	}
}

func TestNoKeyPassesThrough(t *testing.T) {
	t.Parallel()
	b := setup(t, idempotency.Options{})
	c := call{body: thingInput{Name: "one"}}
	for want := int64(1); want <= 2; want++ {
		res := b.do(t, c)
		wantStatus(t, res, http.StatusCreated)
		if got := res.run(t); got != want {
			t.Errorf("run %d, want %d", got, want)
		}
		if !bytes.Contains(res.body, []byte(`"key":""`)) {
			t.Errorf("answer %s: want no key from KeyFrom", res.body)
		}
	}
	// Without a principal too: a key is what needs a scope.
	wantStatus(t, b.do(t, call{body: thingInput{Name: "anon"}, noUser: true}), http.StatusCreated)
	if n := b.countRows(t); n != 0 {
		t.Errorf("%d rows stored, want 0", n)
	}
}

func TestDifferentRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		call call
	}{
		{"body", call{body: thingInput{Name: "two"}}},
		{"body whitespace", call{body: `{"name": "one"}`}},
		{"path", call{path: "/v1/other", body: thingInput{Name: "one"}}},
		{"method", call{method: http.MethodPut, body: thingInput{Name: "one"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, idempotency.Options{})
			orig := call{body: thingInput{Name: "one"}, keys: []string{"key-1"}}
			first := b.do(t, orig)
			wantStatus(t, first, http.StatusCreated)

			tt.call.keys = orig.keys
			res := b.do(t, tt.call)
			wantStatus(t, res, http.StatusUnprocessableEntity)
			if p := res.problem(t); !strings.Contains(p.Detail, "different request") {
				t.Errorf("detail %q, want it to say the key was used with a different request", p.Detail)
			}
			// Nothing changed: the original still replays.
			again := b.do(t, orig)
			wantStatus(t, again, http.StatusCreated)
			if !bytes.Equal(again.body, first.body) {
				t.Errorf("replay after 422: body %s, want %s", again.body, first.body)
			}
			b.wantRuns(t, 1)
		})
	}
}

// The first request holds its key until it is done: a duplicate meanwhile
// is told to retry, and then gets the first's answer.
func TestConcurrentDuplicate(t *testing.T) {
	t.Parallel()
	b := setup(t, idempotency.Options{})
	c := call{body: thingInput{Name: "slow", Block: true}, keys: []string{"key-1"}}

	firstDone := make(chan result)
	go func() { firstDone <- b.do(t, c) }()
	<-b.started

	second := b.do(t, c)
	wantStatus(t, second, http.StatusConflict)
	if got := second.header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After %q, want 1", got)
	}
	if p := second.problem(t); !strings.Contains(p.Detail, "in progress") {
		t.Errorf("detail %q, want it to say a request with the key is in progress", p.Detail)
	}

	close(b.release)
	first := <-firstDone
	wantStatus(t, first, http.StatusCreated)
	third := b.do(t, c)
	wantStatus(t, third, http.StatusCreated)
	if !bytes.Equal(third.body, first.body) || third.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("after the first finished: %s (replayed %q), want the first's answer %s replayed",
			third.body, third.header.Get("Idempotent-Replayed"), first.body)
	}
	b.wantRuns(t, 1)
}

func TestKeysArePerScope(t *testing.T) {
	t.Parallel()
	b := setup(t, idempotency.Options{})
	body := thingInput{Name: "same"}
	a := b.do(t, call{user: "usr_a", body: body, keys: []string{"key-1"}})
	other := b.do(t, call{user: "usr_b", body: body, keys: []string{"key-1"}})
	wantStatus(t, a, http.StatusCreated)
	wantStatus(t, other, http.StatusCreated)
	if a.run(t) == other.run(t) {
		t.Fatalf("both users got run %d, want a run each", a.run(t))
	}
	for user, want := range map[string]result{"usr_a": a, "usr_b": other} {
		again := b.do(t, call{user: user, body: body, keys: []string{"key-1"}})
		if !bytes.Equal(again.body, want.body) {
			t.Errorf("%s's replay %s, want its own answer %s", user, again.body, want.body)
		}
	}
	b.wantRuns(t, 2)
}

func TestCustomScope(t *testing.T) {
	t.Parallel()
	// A public route that shares one scope between all its callers.
	b := setup(t, idempotency.Options{Scope: func(*http.Request) (string, bool) { return "", true }})
	c := call{body: thingInput{Name: "anon"}, keys: []string{"key-1"}, noUser: true}
	first := b.do(t, c)
	wantStatus(t, first, http.StatusCreated)
	if again := b.do(t, c); !bytes.Equal(again.body, first.body) {
		t.Errorf("replay %s, want %s", again.body, first.body)
	}
	b.wantRuns(t, 1)
}

func TestKeyWithoutScope(t *testing.T) {
	t.Parallel()
	b := setup(t, idempotency.Options{})
	res := b.do(t, call{body: thingInput{Name: "anon"}, keys: []string{"key-1"}, noUser: true})
	wantStatus(t, res, http.StatusUnauthorized)
	res.problem(t)
	b.wantRuns(t, 0)
	if n := b.countRows(t); n != 0 {
		t.Errorf("%d rows stored, want 0", n)
	}
}

// A failed first attempt changed nothing, so its key is free for the fixed
// request.
func TestFailureReleasesKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   thingInput
		status int
	}{
		{"validation", thingInput{Name: "bad", Fail: 400}, http.StatusBadRequest},
		{"conflict", thingInput{Name: "taken", Fail: 409}, http.StatusConflict},
		{"server error", thingInput{Name: "fire", Fail: 500}, http.StatusInternalServerError},
		{"panic", thingInput{Name: "panic", Panic: true}, http.StatusInternalServerError},
		{"bad JSON", thingInput{}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, idempotency.Options{})
			var body any = tt.body
			if tt.name == "bad JSON" {
				body = `{"name":`
			}
			res := b.do(t, call{body: body, keys: []string{"key-1"}})
			wantStatus(t, res, tt.status)
			res.problem(t)
			if n := b.countRows(t); n != 0 {
				t.Errorf("%d rows after a %d, want the key released", n, tt.status)
			}
			fixed := b.do(t, call{body: thingInput{Name: "good"}, keys: []string{"key-1"}})
			wantStatus(t, fixed, http.StatusCreated)
			if got := fixed.header.Get("Idempotent-Replayed"); got != "" {
				t.Errorf("fixed request: Idempotent-Replayed %q, want a fresh run", got)
			}
			b.wantRuns(t, 2)
		})
	}
}

func TestBadKeys(t *testing.T) {
	t.Parallel()
	b := setup(t, idempotency.Options{})
	tests := []struct {
		name string
		keys []string
		// net/http's client refuses to send some values, and its server
		// to receive them; those go to the handler directly.
		direct bool
	}{
		{"empty", []string{""}, false},
		{"256 characters", []string{strings.Repeat("k", 256)}, false},
		{"space", []string{"my key"}, false},
		{"tab", []string{"my\tkey"}, false},
		{"control character", []string{"my\x01key"}, true},
		{"DEL", []string{"my\x7fkey"}, true},
		{"non-ASCII", []string{"clé"}, false},
		{"sent twice", []string{"key-1", "key-1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := call{body: thingInput{Name: "one"}, keys: tt.keys}
			var res result
			if tt.direct {
				res = b.serve(t, c)
			} else {
				res = b.do(t, c)
			}
			wantStatus(t, res, http.StatusBadRequest)
			p := res.problem(t)
			if len(p.Errors) != 1 || p.Errors[0].Field != "Idempotency-Key" {
				t.Errorf("errors %+v, want one naming Idempotency-Key", p.Errors)
			}
		})
	}
	b.wantRuns(t, 0)
	if n := b.countRows(t); n != 0 {
		t.Errorf("%d rows stored, want 0", n)
	}

	// The bounds themselves are fine.
	for _, k := range []string{"k", strings.Repeat("k", 255), "!~\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}"} {
		wantStatus(t, b.do(t, call{body: thingInput{Name: "one"}, keys: []string{k}}), http.StatusCreated)
	}
}

// A request that holds its key past the lease is presumed dead: the next
// takes the key over, and its answer is the one kept, even when the first
// finishes after all.
func TestLeaseTakeover(t *testing.T) {
	t.Parallel()
	b := setup(t, idempotency.Options{})
	c := call{body: thingInput{Name: "slow", Block: true}, keys: []string{"key-1"}}

	firstDone := make(chan result)
	go func() { firstDone <- b.do(t, c) }()
	<-b.started

	b.clock.Add(testLease - time.Second)
	wantStatus(t, b.do(t, c), http.StatusConflict)

	b.clock.Add(time.Second)
	secondDone := make(chan result)
	go func() { secondDone <- b.do(t, c) }()
	<-b.started // the second runs: it took the key over
	b.release <- struct{}{}
	b.release <- struct{}{}
	first, second := <-firstDone, <-secondDone
	wantStatus(t, first, http.StatusCreated)
	wantStatus(t, second, http.StatusCreated)
	if first.run(t) == second.run(t) {
		t.Fatalf("both answers are run %d", first.run(t))
	}

	third := b.do(t, c)
	if !bytes.Equal(third.body, second.body) {
		t.Errorf("replay %s, want the taker's answer %s", third.body, second.body)
	}
	b.wantRuns(t, 2)
	b.logs.WaitFor(t, "key taken over")
}

// Two requests that find the same dead request take over one at a time.
func TestLeaseTakeoverRace(t *testing.T) {
	t.Parallel()
	b := setup(t, idempotency.Options{})
	c := call{body: thingInput{Name: "slow", Block: true}, keys: []string{"key-1"}}
	firstDone := make(chan result)
	go func() { firstDone <- b.do(t, c) }()
	<-b.started
	b.clock.Add(testLease)

	const racers = 8
	answers := make(chan result, racers)
	for range racers {
		go func() { answers <- b.do(t, c) }()
	}
	<-b.started // one racer took over
	for range racers - 1 {
		wantStatus(t, <-answers, http.StatusConflict)
	}
	close(b.release)
	wantStatus(t, <-answers, http.StatusCreated)
	wantStatus(t, <-firstDone, http.StatusCreated)
	b.wantRuns(t, 2)
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	b := setup(t, idempotency.Options{})
	ctx := context.Background()
	first := b.do(t, call{body: thingInput{Name: "one"}, keys: []string{"key-1"}})
	wantStatus(t, first, http.StatusCreated)
	for _, k := range []string{"key-2", "key-3"} {
		wantStatus(t, b.do(t, call{body: thingInput{Name: "one"}, keys: []string{k}}), http.StatusCreated)
	}
	b.clock.Add(time.Hour)
	wantStatus(t, b.do(t, call{body: thingInput{Name: "later"}, keys: []string{"key-4"}}), http.StatusCreated)

	b.clock.Add(testTTL - time.Hour - time.Second)
	wantStatus(t, b.do(t, call{body: thingInput{Name: "two"}, keys: []string{"key-1"}}), http.StatusUnprocessableEntity)
	if n, err := b.store.DeleteExpired(ctx); err != nil || n != 0 {
		t.Fatalf("DeleteExpired before the TTL: %d, %v; want 0", n, err)
	}

	// After the TTL the key is as good as new, even for another request.
	b.clock.Add(time.Second)
	res := b.do(t, call{body: thingInput{Name: "two"}, keys: []string{"key-1"}})
	wantStatus(t, res, http.StatusCreated)
	if res.run(t) == first.run(t) || res.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("reuse after the TTL answered %s, replayed %q; want a new run", res.body, res.header.Get("Idempotent-Replayed"))
	}
	b.wantRuns(t, 5)

	if n, err := b.store.DeleteExpired(ctx); err != nil || n != 2 {
		t.Fatalf("DeleteExpired: %d, %v; want key-2 and key-3", n, err)
	}
	if n := b.countRows(t); n != 2 {
		t.Errorf("%d rows left, want key-1 (reused) and key-4", n)
	}
	b.clock.Add(testTTL)
	if n, err := b.store.DeleteExpired(ctx); err != nil || n != 2 {
		t.Fatalf("DeleteExpired a TTL later: %d, %v; want 2", n, err)
	}
}

func TestCleanupJob(t *testing.T) {
	t.Parallel()
	b := setup(t, idempotency.Options{})
	wantStatus(t, b.do(t, call{body: thingInput{Name: "one"}, keys: []string{"key-1"}}), http.StatusCreated)
	b.clock.Add(testTTL)

	w := idempotency.NewCleanupWorker(b.store)
	if err := w.Work(context.Background(), &river.Job[idempotency.CleanupArgs]{}); err != nil {
		t.Fatal(err)
	}
	if n := b.countRows(t); n != 0 {
		t.Errorf("%d rows after the cleanup job, want 0", n)
	}

	if got := (idempotency.CleanupArgs{}).Kind(); got != "idempotency.cleanup" {
		t.Errorf("Kind %q", got)
	}
	b.store.Workers(river.NewWorkers()) // registers without panicking
	if p := b.store.Periodic(); len(p) != 1 {
		t.Errorf("%d periodic jobs, want the cleanup", len(p))
	}
}

// A response too large to keep is still sent whole; its key is forgotten,
// so a retry runs again.
func TestLargeResponse(t *testing.T) {
	t.Parallel()
	b := setup(t, idempotency.Options{MaxResponseBytes: 100})
	c := call{body: thingInput{Name: "big", Pad: 1000}, keys: []string{"key-1"}}
	for want := int64(1); want <= 2; want++ {
		res := b.do(t, c)
		wantStatus(t, res, http.StatusCreated)
		if got := res.run(t); got != want || !bytes.Contains(res.body, bytes.Repeat([]byte("x"), 1000)) {
			t.Errorf("answer %d bytes, run %d; want all of run %d", len(res.body), got, want)
		}
		if res.header.Get("Location") == "" {
			t.Error("no Location on a large answer")
		}
	}
	if n := b.countRows(t); n != 0 {
		t.Errorf("%d rows, want 0", n)
	}
	b.logs.WaitFor(t, "response too large to store")

	// One that just fits is kept.
	small := call{body: thingInput{Name: "s"}, keys: []string{"key-2"}}
	first := b.do(t, small)
	if len(first.body) > 100 {
		t.Fatalf("test answer of %d bytes does not fit", len(first.body))
	}
	if again := b.do(t, small); again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("small answer not replayed: %s", again.body)
	}
}

// The body the handler reads is the one that was fingerprinted, and over
// the server's cap the request is refused before anything is stored.
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, idempotency.Options{})
	limited := http.MaxBytesHandler(b.handler, 64)
	r := call{body: thingInput{Name: strings.Repeat("n", 100)}, keys: []string{"key-1"}}.request(t, "http://example.test")
	w := httptest.NewRecorder()
	limited.ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413; body %s", w.Code, w.Body)
	}
	b.wantRuns(t, 0)
	if n := b.countRows(t); n != 0 {
		t.Errorf("%d rows, want 0", n)
	}
}

func TestMigrations(t *testing.T) {
	t.Parallel()
	sqlite, _ := fs.Glob(idempotency.Migrations, "sqlite/*.sql")
	postgres, _ := fs.Glob(idempotency.Migrations, "postgres/*.sql")
	for i := range sqlite {
		sqlite[i] = strings.TrimPrefix(sqlite[i], "sqlite/")
	}
	for i := range postgres {
		postgres[i] = strings.TrimPrefix(postgres[i], "postgres/")
	}
	if len(sqlite) == 0 || !slices.Equal(sqlite, postgres) {
		t.Errorf("sqlite %v, postgres %v: want the same files in both", sqlite, postgres)
	}

	db := testkit.NewDB(t, schema)
	dir, err := fs.Sub(idempotency.Migrations, string(db.Dialect()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := database.MigrateDown(ctx, db, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := database.MigrateUp(ctx, db, dir); err != nil {
		t.Fatal(err)
	}
}
