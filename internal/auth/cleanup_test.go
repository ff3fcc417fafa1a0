package auth_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/auth"
	"github.com/rightsize/rightsize/internal/platform/database"
)

// The cleanup job, run by River, deletes the refresh and email tokens that
// can no longer be used and keeps the rest.
func TestCleanupJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	userID := b.addUser(t, "ada@example.com", oldPassword, true)
	now := time.Now().UTC()
	// at returns nil (NULL) for 0, else now+d.
	at := func(d time.Duration) any {
		if d == 0 {
			return nil
		}
		return now.Add(d)
	}

	refresh := []struct {
		hash             string
		expires, usedAgo time.Duration
		kept             bool
	}{
		{"refresh-expired", -time.Minute, 0, false},
		{"refresh-expired-long-ago-used", -40 * 24 * time.Hour, -41 * 24 * time.Hour, false},
		{"refresh-live", time.Hour, 0, true},
		// Kept until it expires, so that its reuse is still detected.
		{"refresh-live-rotated", time.Hour, -time.Hour, true},
	}
	for _, r := range refresh {
		if _, err := b.DB.Exec(ctx, `INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at, used_at, created_at)
			VALUES ($1, 'ses_1', $2, $3, $4, $5)`, r.hash, userID, now.Add(r.expires), at(r.usedAgo), now.Add(-50*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	email := []struct {
		hash, purpose    string
		expires, usedAgo time.Duration
		kept             bool
	}{
		{"verify-expired", "verify_email", -time.Second, 0, false},
		{"reset-expired", "reset_password", -time.Hour, 0, false},
		{"reset-expired-used", "reset_password", -time.Minute, -10 * time.Minute, false},
		{"verify-live", "verify_email", 47 * time.Hour, 0, true},
		{"reset-live", "reset_password", 30 * time.Minute, 0, true},
		// Used tokens are kept a day after use, expired or not.
		{"verify-used-an-hour-ago", "verify_email", 40 * time.Hour, -time.Hour, true},
		{"verify-used-two-days-ago", "verify_email", time.Hour, -47 * time.Hour, false},
	}
	for _, e := range email {
		if _, err := b.DB.Exec(ctx, `INSERT INTO email_tokens (token_hash, purpose, user_id, expires_at, used_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, e.hash, e.purpose, userID, now.Add(e.expires), at(e.usedAgo), now.Add(-48*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}

	err := b.DB.Transact(ctx, func(tx *database.Tx) error {
		return b.Jobs.InsertTx(ctx, tx, auth.CleanupArgs{}, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	b.WaitJobs(t, auth.CleanupArgs{}.Kind(), 1)

	for _, r := range refresh {
		if got := b.Count(t, `SELECT COUNT(*) FROM refresh_tokens WHERE token_hash = $1`, r.hash) == 1; got != r.kept {
			t.Errorf("refresh token %s: kept %v, want %v", r.hash, got, r.kept)
		}
	}
	for _, e := range email {
		if got := b.Count(t, `SELECT COUNT(*) FROM email_tokens WHERE token_hash = $1`, e.hash) == 1; got != e.kept {
			t.Errorf("email token %s: kept %v, want %v", e.hash, got, e.kept)
		}
	}
	if n := b.Count(t, `SELECT COUNT(*) FROM users`); n != 1 {
		t.Errorf("users after cleanup: got %d, want 1", n)
	}
}

// An account nobody verified within its link's 48 hours is purged, which
// frees the address; a newer pending one and verified ones stay.
func TestCleanupPurgesUnverifiedAccounts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.addUser(t, "verified@example.com", oldPassword, true)
	stale := b.addUser(t, "stale@example.com", oldPassword, false)
	fresh := b.addUser(t, "fresh@example.com", oldPassword, false)
	for id, ago := range map[string]time.Duration{stale: 49 * time.Hour, fresh: time.Hour} {
		if _, err := b.DB.Exec(ctx, `UPDATE users SET created_at = $2, updated_at = $2 WHERE id = $1`, id, time.Now().UTC().Add(-ago)); err != nil {
			t.Fatal(err)
		}
	}
	err := b.DB.Transact(ctx, func(tx *database.Tx) error {
		return b.Jobs.InsertTx(ctx, tx, auth.CleanupArgs{}, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	b.WaitJobs(t, auth.CleanupArgs{}.Kind(), 2) // the one run at start, and this one
	for email, kept := range map[string]bool{"verified@example.com": true, "stale@example.com": false, "fresh@example.com": true} {
		if got := b.Count(t, `SELECT COUNT(*) FROM users WHERE email = $1`, email) == 1; got != kept {
			t.Errorf("%s: kept %v, want %v", email, got, kept)
		}
	}
	// The address is free: a new signup makes a new account.
	b.Want(t, http.StatusAccepted, "POST", "/v1/auth/signup", "", map[string]string{"email": "stale@example.com", "password": oldPassword, "name": "New"})
	if n := b.Count(t, `SELECT COUNT(*) FROM users WHERE email = 'stale@example.com' AND id <> $1`, stale); n != 1 {
		t.Errorf("a signup for the purged address: got %d new accounts, want 1", n)
	}
}
