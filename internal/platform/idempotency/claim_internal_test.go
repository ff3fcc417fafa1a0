package idempotency

import (
	"context"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/platform/testkit"
)

// Of two requests that saw the same claim, only one takes the key over, and
// the request that lost it can neither store its answer nor release the key.
// (Racing HTTP requests rarely interleave this closely; this pins the
// conditional writes that make it safe when they do.)
func TestClaimsAreConditional(t *testing.T) {
	t.Parallel()
	db := testkit.NewDB(t, TestSchema)
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	s := New(db, Options{Now: func() time.Time { return now }})
	ctx := context.Background()

	dead, replay, err := s.claim(ctx, "usr_a", "key-1", "fp")
	if err != nil || replay != nil {
		t.Fatalf("claim: %v, replay %v", err, replay)
	}
	expires := now.Add(s.ttl)
	a := claim{scope: "usr_a", key: "key-1", token: "taker-a"}
	b := claim{scope: "usr_a", key: "key-1", token: "taker-b"}
	if ok, err := s.reclaim(ctx, a, dead.token, "fp", now, now, expires); err != nil || !ok {
		t.Fatalf("first taker: %v, %v; want it to win", ok, err)
	}
	if ok, err := s.reclaim(ctx, b, dead.token, "fp", now, now, expires); err != nil || ok {
		t.Fatalf("second taker: %v, %v; want it to lose", ok, err)
	}

	if ok, err := s.complete(ctx, dead, response{status: 201, body: []byte("dead")}); err != nil || ok {
		t.Fatalf("complete by the presumed dead: %v, %v; want nothing stored", ok, err)
	}
	if err := s.release(ctx, dead); err != nil {
		t.Fatal(err)
	}
	r, err := s.load(ctx, "usr_a", "key-1")
	if err != nil || r.token != a.token || r.state != inFlight {
		t.Fatalf("row %+v, %v; want taker a's claim in flight", r, err)
	}
	if ok, err := s.complete(ctx, a, response{status: 201, body: []byte("a")}); err != nil || !ok {
		t.Fatalf("complete by the taker: %v, %v", ok, err)
	}
	if _, replay, err := s.claim(ctx, "usr_a", "key-1", "fp"); err != nil || replay == nil || string(replay.body) != "a" {
		t.Fatalf("claim after completion: replay %+v, %v; want taker a's answer", replay, err)
	}
}
