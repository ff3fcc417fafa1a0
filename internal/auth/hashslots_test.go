package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/platform/apperr"
)

// Hole 5: a request waiting for a hashing slot gives up when its client
// leaves or its deadline passes, and beyond the bounded line it is refused
// at once with 503 and Retry-After. Not parallel: it holds every slot.
func TestHashSlotsHonourContextAndBoundTheLine(t *testing.T) {
	dummy, err := dummyHash(DefaultPasswordParams) // made now: making it needs a slot
	if err != nil {
		t.Fatal(err)
	}
	// Hold every slot, as a storm of logins would.
	for range cap(hashSlots) {
		hashSlots <- struct{}{}
	}
	defer func() {
		for range cap(hashSlots) {
			<-hashSlots
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = HashPassword(ctx, "correct horse battery staple", DefaultPasswordParams)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting past the deadline: got %v, want context.DeadlineExceeded", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("waited %v after a 50ms deadline", waited)
	}
	gone, leave := context.WithCancel(context.Background())
	leave()
	if _, _, err := verifyPassword(gone, "x", dummy, DefaultPasswordParams); !errors.Is(err, context.Canceled) {
		t.Errorf("a client that left: got %v, want context.Canceled", err)
	}

	// A full line: refused at once, 503 with Retry-After.
	hashWaiting.Add(hashQueueLen)
	defer hashWaiting.Add(-hashQueueLen)
	_, err = HashPassword(context.Background(), "correct horse battery staple", DefaultPasswordParams)
	if !errors.Is(err, apperr.ErrUnavailable) || apperr.RetryAfter(err) <= 0 {
		t.Fatalf("a full line: got %v, want an apperr.ErrUnavailable with RetryAfter", err)
	}
	if hashWaiting.Load() != hashQueueLen {
		t.Errorf("waiting count: got %d, want it back at %d", hashWaiting.Load(), hashQueueLen)
	}
}
