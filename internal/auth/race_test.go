package auth_test

import (
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/rightsize/rightsize/internal/app/apptest"
)

// A logout racing a refresh of the same login must win: whichever commits
// first, no refresh token of that login works afterwards. On PostgreSQL this
// exercises the session row lock; on SQLite transactions serialize anyway.
func TestLogoutRacingRefreshLeavesNoLiveToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const pw = "a long enough passphrase"
	b.addUser(t, "race@example.com", pw, true)
	for i := range 10 {
		access, refresh := b.login(t, "race@example.com", pw)
		var wg sync.WaitGroup
		var rotated, logout apptest.Response
		var refreshErr, logoutErr error
		wg.Go(func() {
			rotated, refreshErr = b.Do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": refresh})
		})
		wg.Go(func() {
			logout, logoutErr = b.Do("POST", "/v1/auth/logout", access, nil)
		})
		wg.Wait()
		if err := errors.Join(refreshErr, logoutErr); err != nil {
			t.Fatal(err)
		}
		if logout.Status != http.StatusNoContent {
			t.Fatalf("round %d: logout got %d %v, want 204", i, logout.Status, logout.Body)
		}
		if rotated.Status == http.StatusOK {
			next, _ := rotated.Body["refresh_token"].(string)
			if r := b.Call(t, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": next}); r.Status != http.StatusUnauthorized {
				t.Fatalf("round %d: the token a refresh minted during logout still works (%d), want 401", i, r.Status)
			}
		}
	}
}

// Two refreshes racing with one token: exactly one succeeds, and the loser
// is treated as reuse, which revokes the login.
func TestConcurrentRefreshWithOneToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const pw = "a long enough passphrase"
	b.addUser(t, "twice@example.com", pw, true)
	_, refresh := b.login(t, "twice@example.com", pw)
	var wg sync.WaitGroup
	results := make([]apptest.Response, 2)
	errs := make([]error, 2)
	for i := range results {
		wg.Go(func() {
			results[i], errs[i] = b.Do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": refresh})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	ok := 0
	for _, r := range results {
		if r.Status == http.StatusOK {
			ok++
			next, _ := r.Body["refresh_token"].(string)
			if again := b.Call(t, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": next}); again.Status != http.StatusUnauthorized {
				t.Errorf("the winner's new token: got %d, want 401 once the loser revoked the login", again.Status)
			}
		}
	}
	if ok != 1 {
		t.Errorf("got %d successful refreshes with one token, want exactly 1", ok)
	}
}

// Concurrent key creations cannot pass the per-user cap together.
func TestConcurrentKeyCreationsKeepTheCap(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.addUser(t, "ada@example.com", oldPassword, true)
	access, _ := b.login(t, "ada@example.com", oldPassword)
	var wg sync.WaitGroup
	errs := make([]error, 30)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = b.Do("POST", "/v1/api-keys", access, map[string]string{"name": "k"})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n := b.Count(t, `SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL`); n != 20 {
		t.Errorf("live keys after 30 concurrent creations: got %d, want the cap, 20", n)
	}
}
