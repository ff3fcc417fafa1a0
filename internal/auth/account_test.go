package auth_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rightsize/rightsize/internal/app/apptest"
	"github.com/rightsize/rightsize/internal/auth"
)

const (
	oldPassword = "a long enough passphrase"
	newPassword = "another long passphrase"
)

// Password reset end to end: the request mails a link; its token sets a new
// password once; the old password stops working and so does every session
// of the account.
func TestPasswordReset(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const email = "ada@example.com"
	userID := b.addUser(t, email, oldPassword, true)
	_, refresh1 := b.login(t, email, oldPassword)
	_, refresh2 := b.login(t, email, oldPassword)

	out := b.Want(t, http.StatusAccepted, "POST", "/v1/auth/password-reset", "", map[string]string{"email": " ADA@Example.com "})
	if out["status"] != "reset_requested" {
		t.Errorf("reset request: got status %v, want reset_requested", out["status"])
	}
	m := b.WaitMail(t, email, "Reset your password")
	token := apptest.LinkToken(t, string(m.Body), publicURL+"/reset-password")

	// A password the rules refuse leaves the token usable.
	weak := b.Call(t, "POST", "/v1/auth/password-reset/confirm", "", map[string]string{"token": token, "new_password": "short"})
	wantInvalid(t, weak, "new_password")

	confirm := map[string]string{"token": token, "new_password": newPassword}
	out = b.Want(t, http.StatusOK, "POST", "/v1/auth/password-reset/confirm", "", confirm)
	if out["status"] != "password_reset" {
		t.Errorf("confirm: got status %v, want password_reset", out["status"])
	}

	if n := b.Count(t, `SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL`, userID); n != 0 {
		t.Errorf("live refresh tokens after reset: got %d, want 0", n)
	}
	for i, rt := range []string{refresh1, refresh2} {
		if r := b.Call(t, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": rt}); r.Status != http.StatusUnauthorized {
			t.Errorf("refresh with session %d after reset: got %d, want 401", i+1, r.Status)
		}
	}

	if r := b.Call(t, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": oldPassword}); r.Status != http.StatusUnauthorized {
		t.Errorf("login with the old password: got %d, want 401", r.Status)
	}
	b.login(t, email, newPassword)

	again := b.Call(t, "POST", "/v1/auth/password-reset/confirm", "", map[string]string{"token": token, "new_password": "yet another passphrase"})
	wantInvalid(t, again, "token")
	b.login(t, email, newPassword)
}

// Resetting a password with one link retires every other reset link of the
// account, as changing it does: a link in an old mail must not undo it.
func TestPasswordResetRetiresOtherLinks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const email = "grace@example.com"
	b.addUser(t, email, oldPassword, true)

	var tokens []string
	for range 2 {
		b.Want(t, http.StatusAccepted, "POST", "/v1/auth/password-reset", "", map[string]string{"email": email})
		m := b.WaitMail(t, email, "Reset your password")
		tokens = append(tokens, apptest.LinkToken(t, string(m.Body), publicURL+"/reset-password"))
	}
	b.Want(t, http.StatusOK, "POST", "/v1/auth/password-reset/confirm", "", map[string]string{"token": tokens[1], "new_password": newPassword})
	r := b.Call(t, "POST", "/v1/auth/password-reset/confirm", "", map[string]string{"token": tokens[0], "new_password": "yet another passphrase"})
	wantInvalid(t, r, "token")
	b.login(t, email, newPassword)
}

// A reset request for an address without an account answers exactly as one
// for an address with one, and mails nothing.
func TestPasswordResetUnknownEmail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const known, unknown = "ada@example.com", "nobody@example.com"
	b.addUser(t, known, oldPassword, true)

	unknownRes := b.Call(t, "POST", "/v1/auth/password-reset", "", map[string]string{"email": unknown})
	b.WaitJobs(t, auth.PasswordResetArgs{}.Kind(), 1)
	// The worker inserts the mail job in the transaction it completes
	// in, so none now means none ever.
	if n := b.Count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'mail.send'`); n != 0 {
		t.Errorf("mail jobs after a reset for an unknown email: got %d, want 0", n)
	}
	b.assertNoMailYet(t)
	if n := b.Count(t, `SELECT COUNT(*) FROM email_tokens`); n != 0 {
		t.Errorf("email tokens after a reset for an unknown email: got %d, want 0", n)
	}

	knownRes := b.Call(t, "POST", "/v1/auth/password-reset", "", map[string]string{"email": known})
	b.WaitMail(t, known, "Reset your password")

	if unknownRes.Status != knownRes.Status || knownRes.Status != http.StatusAccepted {
		t.Errorf("status: got %d for the unknown email and %d for the known one, want 202 for both", unknownRes.Status, knownRes.Status)
	}
	if got, want := keysOf(unknownRes.Body), keysOf(knownRes.Body); !slices.Equal(got, want) {
		t.Errorf("body keys: got %q for the unknown email, want %q as for the known one", got, want)
	}
	for _, k := range keysOf(knownRes.Body) {
		got, _ := unknownRes.Body[k].(string)
		want, _ := knownRes.Body[k].(string)
		if strings.ReplaceAll(got, unknown, known) != want {
			t.Errorf("body %q: got %q for the unknown email, want %q with the address swapped", k, got, want)
		}
	}
}

// Signing up with an address that has a verified account answers like a new
// signup, creates nothing, and tells the owner instead. Addresses are compared
// after trimming and lower-casing.
func TestSignupTakenEmail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		email string
	}{
		{"same", "Ada@X.com"},
		{"lower case", "ada@x.com"},
		{"upper case and spaces", "  ADA@X.COM "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			signup := func(email, name string) apptest.Response {
				return b.Call(t, "POST", "/v1/auth/signup", "", map[string]string{"email": email, "password": oldPassword, "name": name})
			}
			first := signup("Ada@X.com", "Ada")
			if first.Status != http.StatusAccepted {
				t.Fatalf("first signup: got %d %v, want 202", first.Status, first.Body)
			}
			// Verified: an unverified account is replaced by a new signup
			// instead (TestSignupAgainReplacesPendingAccount).
			verify := apptest.LinkToken(t, string(b.WaitMail(t, "ada@x.com", "verify").Body), "/verify-email")
			b.Want(t, http.StatusOK, "POST", "/v1/auth/verify-email", "", map[string]string{"token": verify, "password": oldPassword})

			again := signup(tt.email, "Mallory")
			m := b.WaitMail(t, "ada@x.com", "You already have an account")
			if strings.Contains(string(m.Body), "token=") {
				t.Errorf("the already-have-an-account mail carries a token: %q", m.Body)
			}
			if again.Status != first.Status {
				t.Errorf("signup with a taken email: got %d, want %d as for a new one", again.Status, first.Status)
			}
			if got, want := keysOf(again.Body), keysOf(first.Body); !slices.Equal(got, want) {
				t.Errorf("signup with a taken email: got body keys %q, want %q", got, want)
			}
			if again.Body["status"] != first.Body["status"] {
				t.Errorf("signup with a taken email: got status %v, want %v", again.Body["status"], first.Body["status"])
			}
			if again.Body["detail"] != first.Body["detail"] {
				t.Errorf("signup with a taken email: got detail %v, want %v", again.Body["detail"], first.Body["detail"])
			}

			if n := b.Count(t, `SELECT COUNT(*) FROM users`); n != 1 {
				t.Errorf("users: got %d, want 1", n)
			}
			var email, name string
			if err := b.DB.QueryRow(context.Background(), `SELECT email, name FROM users`).Scan(&email, &name); err != nil {
				t.Fatal(err)
			}
			if email != "ada@x.com" || name != "Ada" {
				t.Errorf("stored user: got %q %q, want %q %q", email, name, "ada@x.com", "Ada")
			}

			// Another address still signs up, with the same answer.
			other := signup("bob@x.com", "Bob")
			b.WaitMail(t, "bob@x.com", "verify")
			if other.Status != http.StatusAccepted || !slices.Equal(keysOf(other.Body), keysOf(first.Body)) {
				t.Errorf("new signup: got %d %v, want 202 shaped like %v", other.Status, other.Body, first.Body)
			}
		})
	}
}

// Changing the password needs the current one and signs out every other
// session, not the one that changed it.
func TestChangePassword(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const email = "ada@example.com"
	b.addUser(t, email, oldPassword, true)
	access, refresh := b.login(t, email, oldPassword)
	_, otherRefresh := b.login(t, email, oldPassword)

	refused := []struct {
		name  string
		body  any
		field string
	}{
		{"wrong current password", map[string]string{"current_password": "not the passphrase", "new_password": newPassword}, "current_password"},
		{"no current password", map[string]string{"new_password": newPassword}, "current_password"},
		{"new password too short", map[string]string{"current_password": oldPassword, "new_password": "short"}, "new_password"},
		{"new password too common", map[string]string{"current_password": oldPassword, "new_password": "password1234"}, "new_password"},
		{"new password is the email", map[string]string{"current_password": oldPassword, "new_password": email}, "new_password"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			wantInvalid(t, b.Call(t, "POST", "/v1/me/password", access, tt.body), tt.field)
		})
	}
	// Nothing above changed anything: the old password still logs in, and
	// the other session still refreshes.
	_, third := b.login(t, email, oldPassword)
	other := b.Want(t, http.StatusOK, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": otherRefresh})["refresh_token"].(string)

	b.Want(t, http.StatusNoContent, "POST", "/v1/me/password", access, map[string]string{"current_password": oldPassword, "new_password": newPassword})

	if r := b.Call(t, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": oldPassword}); r.Status != http.StatusUnauthorized {
		t.Errorf("login with the old password: got %d, want 401", r.Status)
	}
	b.login(t, email, newPassword)
	for name, rt := range map[string]string{"other": other, "third": third} {
		if r := b.Call(t, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": rt}); r.Status != http.StatusUnauthorized {
			t.Errorf("refresh of the %s session after the change: got %d, want 401", name, r.Status)
		}
	}
	out := b.Want(t, http.StatusOK, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": refresh})
	b.Want(t, http.StatusOK, "GET", "/v1/me", out["access_token"].(string), nil)
	b.Want(t, http.StatusOK, "GET", "/v1/me", access, nil)
}

// PATCH /v1/me refuses a bad name, naming the field, and changes nothing.
func TestUpdateMe(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const email = "ada@example.com"
	userID := b.addUser(t, email, oldPassword, true)
	access, _ := b.login(t, email, oldPassword)
	name := func() string {
		t.Helper()
		var n string
		if err := b.DB.QueryRow(context.Background(), `SELECT name FROM users WHERE id = $1`, userID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := name()

	tests := []struct {
		name  string
		body  string
		field string
	}{
		{"empty", `{"name": ""}`, "name"},
		{"blank", `{"name": "   \t "}`, "name"},
		{"too long", `{"name": "` + strings.Repeat("é", 101) + `"}`, "name"},
		{"not a string", `{"name": 42}`, ""},
		{"unknown field", `{"email": "eve@example.com"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.Call(t, "PATCH", "/v1/me", access, tt.body)
			if tt.field != "" {
				wantInvalid(t, r, tt.field)
			} else if r.Status != http.StatusBadRequest {
				t.Errorf("got %d %v, want 400", r.Status, r.Body)
			}
			if got := name(); got != before {
				t.Errorf("name in the database: got %q, want %q unchanged", got, before)
			}
		})
	}

	out := b.Want(t, http.StatusOK, "PATCH", "/v1/me", access, `{"name": "  Ada Lovelace  "}`)
	if out["name"] != "Ada Lovelace" || name() != "Ada Lovelace" {
		t.Errorf("valid name: got %v in the answer and %q stored, want %q", out["name"], name(), "Ada Lovelace")
	}
	// Leaving the field out leaves the name as it is.
	if out := b.Want(t, http.StatusOK, "PATCH", "/v1/me", access, `{}`); out["name"] != "Ada Lovelace" {
		t.Errorf("empty patch: got name %v, want unchanged", out["name"])
	}
}

// The per-account limit on login counts attempts per normalized address,
// whatever the IP, and answers 429 with Retry-After.
func TestLoginAccountRateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"RATE_LIMIT_ACCOUNT": "2/min"})
	b.addUser(t, "ada@example.com", oldPassword, true)

	tests := []struct {
		email, password string
		status          int
	}{
		{"ada@example.com", "wrong passphrase", http.StatusUnauthorized},
		{"ada@example.com", "wrong passphrase", http.StatusUnauthorized},
		{"ada@example.com", "wrong passphrase", http.StatusTooManyRequests},
		// Spelling the address differently is the same account,
		{" ADA@Example.COM", "wrong passphrase", http.StatusTooManyRequests},
		// and the right password does not get through the limit either.
		{"ada@example.com", oldPassword, http.StatusTooManyRequests},
		// Other addresses, known or not, have limits of their own.
		{"nobody@example.com", "wrong passphrase", http.StatusUnauthorized},
		{"nobody@example.com", "wrong passphrase", http.StatusUnauthorized},
		{"nobody@example.com", "wrong passphrase", http.StatusTooManyRequests},
	}
	for i, tt := range tests {
		r := b.Call(t, "POST", "/v1/auth/login", "", map[string]string{"email": tt.email, "password": tt.password})
		if r.Status != tt.status {
			t.Fatalf("attempt %d (%s): got %d %v, want %d", i+1, tt.email, r.Status, r.Body, tt.status)
		}
		if r.Status != http.StatusTooManyRequests {
			continue
		}
		ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 60 {
			t.Errorf("attempt %d: got Retry-After %q, want whole seconds from 1 to 60", i+1, r.Header.Get("Retry-After"))
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("attempt %d: got Content-Type %q, want application/problem+json", i+1, ct)
		}
	}
}

// A login with a hash made with other costs than PASSWORD_HASH (here the
// default costs, on a server running with apptest's cheap ones) rehashes
// the password with PASSWORD_HASH's, and the password still works; a failed
// login changes nothing.
func TestLoginRehashesToTheConfiguredCosts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	userID := b.addUser(t, "ada@example.com", oldPassword, true)
	old := hashWith(t, oldPassword, defaultCosts)
	if _, err := b.DB.Exec(context.Background(), `UPDATE users SET password_hash = $1 WHERE id = $2`, old, userID); err != nil {
		t.Fatal(err)
	}
	stored := func() string {
		t.Helper()
		var h string
		if err := b.DB.QueryRow(context.Background(), `SELECT password_hash FROM users WHERE id = $1`, userID).Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}

	b.Want(t, http.StatusUnauthorized, "POST", "/v1/auth/login", "", map[string]string{"email": "ada@example.com", "password": newPassword})
	if got := stored(); got != old {
		t.Errorf("after a failed login the hash is %q, want it unchanged", got)
	}
	b.login(t, "ada@example.com", oldPassword)
	rehashed := stored()
	if !strings.HasPrefix(rehashed, "$argon2id$v=19$"+apptest.PasswordHash+"$") {
		t.Errorf("after a login the hash is %q, want it made with PASSWORD_HASH %s", rehashed, apptest.PasswordHash)
	}
	b.login(t, "ada@example.com", oldPassword)
	if got := stored(); got != rehashed {
		t.Errorf("a second login rehashed again: %q, then %q", rehashed, got)
	}
}
