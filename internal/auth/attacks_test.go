package auth_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/app/apptest"
)

// Each test here performs an attack a hostile review found, and sees it
// refused.

// Hole 1: an access token outlives its login by minutes. After logout, a
// password change elsewhere, or a reset, it must not mint an API key (a
// credential that never expires), nor do anything else sensitive.
func TestRevokedLoginCannotDoSensitiveThings(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.addUser(t, "ada@example.com", oldPassword, true)
	access, _ := b.login(t, "ada@example.com", oldPassword)
	live, _ := b.login(t, "ada@example.com", oldPassword)
	keyID := b.createKey(t, live, "integration")["id"].(string)
	b.WaitMail(t, "ada@example.com", "A new API key")

	b.Want(t, http.StatusNoContent, "POST", "/v1/auth/logout", access, nil)
	sensitive := []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/api-keys", map[string]string{"name": "backdoor"}},
		{"DELETE", "/v1/api-keys/" + keyID, nil},
		{"POST", "/v1/me/password", map[string]string{"current_password": oldPassword, "new_password": newPassword}},
		{"DELETE", "/v1/me", map[string]string{"password": oldPassword}},
		{"GET", "/v1/me/sessions", nil},
		{"PATCH", "/v1/me", map[string]string{"name": "Revoked"}},
	}
	for _, a := range sensitive {
		r := b.Call(t, a.method, a.path, access, a.body)
		if r.Status != http.StatusUnauthorized {
			t.Errorf("%s %s with a logged-out token: got %d %v, want 401", a.method, a.path, r.Status, r.Body)
		}
	}
	if n := b.Count(t, `SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL`); n != 1 {
		t.Errorf("live keys: got %d, want 1 (nothing minted, nothing revoked)", n)
	}
	// The live login still can.
	b.Want(t, http.StatusOK, "GET", "/v1/me/sessions", live, nil)
}

// A reset means someone else may hold the account: it revokes every API key,
// even one whose maker then changed the password and logged out to hide it,
// and mails the owner, as do a key's creation and a password change.
func TestResetRevokesKeysAndMailsTheOwner(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.addUser(t, "ada@example.com", oldPassword, true)
	thief, _ := b.login(t, "ada@example.com", oldPassword)
	stolen := b.createKey(t, thief, "exfil")["secret"].(string)
	b.WaitMail(t, "ada@example.com", "A new API key")
	b.Want(t, http.StatusOK, "GET", "/v1/me", stolen, nil)
	// The thief covers the tracks: changes the password, then logs out.
	b.Want(t, http.StatusNoContent, "POST", "/v1/me/password", thief, map[string]string{"current_password": oldPassword, "new_password": "the thief's passphrase"})
	b.WaitMail(t, "ada@example.com", "Your password was changed")
	b.Want(t, http.StatusNoContent, "POST", "/v1/auth/logout", thief, nil)
	b.Want(t, http.StatusOK, "GET", "/v1/me", stolen, nil)

	b.Want(t, http.StatusAccepted, "POST", "/v1/auth/password-reset", "", map[string]string{"email": "ada@example.com"})
	token := apptest.LinkToken(t, string(b.WaitMail(t, "ada@example.com", "Reset your password").Body), "/reset-password")
	b.Want(t, http.StatusOK, "POST", "/v1/auth/password-reset/confirm", "", map[string]string{"token": token, "new_password": newPassword})
	m := b.WaitMail(t, "ada@example.com", "Your password was reset")
	if !strings.Contains(string(m.Body), "all 1 API key(s) of the account were revoked") {
		t.Errorf("reset mail does not say a key was revoked: %q", m.Body)
	}
	if r := b.Call(t, "GET", "/v1/me", stolen, nil); r.Status != http.StatusUnauthorized {
		t.Errorf("the key a stolen login made, after a reset: got %d, want 401", r.Status)
	}

	b.login(t, "ada@example.com", newPassword)
}

// Hole 2: someone who signs up with another person's address, before or
// after them, must not choose the password the owner then verifies.
// Verifying takes the link and the password, so the owner's click can only
// verify the owner's own password.
func TestPreAccountTakeover(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const squatterPW = "squatter's passphrase"
	var mails []string
	signup := func(pw, name string) string {
		b.Want(t, http.StatusAccepted, "POST", "/v1/auth/signup", "", map[string]string{"email": "ada@example.com", "password": pw, "name": name})
		mails = append(mails, string(b.WaitMail(t, "ada@example.com", "verify").Body))
		return apptest.LinkToken(t, mails[len(mails)-1], "/verify-email")
	}
	verify := func(token, pw string) apptest.Response {
		return b.Call(t, "POST", "/v1/auth/verify-email", "", map[string]string{"token": token, "password": pw})
	}
	first := signup(squatterPW, "Ada")
	owners := signup(oldPassword, "Ada Lovelace") // the owner: replaces the pending password
	newest := signup(squatterPW, "Ada")           // the squatter again, after the owner

	// Older links are retired; the newest, in the owner's inbox, does not
	// verify the squatter's password for the owner, nor can the squatter use
	// it without the inbox.
	wantInvalid(t, verify(first, squatterPW), "token")
	wantInvalid(t, verify(owners, oldPassword), "token")
	wantInvalid(t, verify(newest, oldPassword), "password")
	// The owner signs up again, as the answer says, and verifies.
	last := signup(oldPassword, "Ada Lovelace")
	b.Want(t, http.StatusOK, "POST", "/v1/auth/verify-email", "", map[string]string{"token": last, "password": oldPassword})
	b.Want(t, http.StatusUnauthorized, "POST", "/v1/auth/login", "", map[string]string{"email": "ada@example.com", "password": squatterPW})
	b.login(t, "ada@example.com", oldPassword)
	if n := b.Count(t, `SELECT COUNT(*) FROM users`); n != 1 {
		t.Errorf("users: got %d, want 1", n)
	}
	// Hole 4's other half: mail to an address not yet verified carries no
	// name, which anyone could have typed.
	for _, m := range mails {
		if strings.Contains(m, "Ada") {
			t.Errorf("verification mail carries the signup's name: %q", m)
		}
	}
}

// The verification mail can be asked for again; the answer is the same for
// any address.
func TestResendVerification(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.Want(t, http.StatusAccepted, "POST", "/v1/auth/signup", "", map[string]string{"email": "ada@example.com", "password": oldPassword, "name": "Ada"})
	b.WaitMail(t, "ada@example.com", "verify")
	known := b.Want(t, http.StatusAccepted, "POST", "/v1/auth/verify-email/resend", "", map[string]string{"email": "ada@example.com"})
	link := apptest.LinkToken(t, string(b.WaitMail(t, "ada@example.com", "verify").Body), "/verify-email")
	unknown := b.Want(t, http.StatusAccepted, "POST", "/v1/auth/verify-email/resend", "", map[string]string{"email": "nobody@example.com"})
	if known["status"] != unknown["status"] {
		t.Errorf("resend answers differ: %v and %v", known, unknown)
	}
	b.Want(t, http.StatusOK, "POST", "/v1/auth/verify-email", "", map[string]string{"token": link, "password": oldPassword})
	b.WaitJobs(t, "auth.resend_verification", 2)
	b.assertNoMailYet(t) // nothing for the unknown address
}

// Hole 3: wrong passwords from one client must not lock the owner out.
// Failures, not attempts, are throttled, per account and client IP.
func TestWrongPasswordsDoNotLockTheOwnerOut(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"RATE_LIMIT_ACCOUNT": "3/min", "TRUSTED_PROXY_COUNT": "1"})
	b.addUser(t, "ada@example.com", oldPassword, true)
	from := func(ip, pw string) apptest.Response {
		return b.CallHeader(t, "POST", "/v1/auth/login", http.Header{"X-Forwarded-For": {ip}},
			map[string]string{"email": "ada@example.com", "password": pw})
	}
	for i := range 3 {
		if r := from("203.0.113.66", "wrong passphrase"); r.Status != http.StatusUnauthorized {
			t.Fatalf("attacker's failure %d: got %d, want 401", i+1, r.Status)
		}
	}
	if r := from("203.0.113.66", "wrong passphrase"); r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("attacker after 3 failures: got %d, want 429 with Retry-After", r.Status)
	}
	// The owner, from elsewhere, is not slowed, and a success clears the count.
	if r := from("198.51.100.7", oldPassword); r.Status != http.StatusOK {
		t.Fatalf("owner from another IP: got %d %v, want 200", r.Status, r.Body)
	}
	if n := b.Count(t, `SELECT failed_logins FROM users`); n != 0 {
		t.Errorf("failed_logins after a success: got %d, want 0", n)
	}
	// Successes spend nothing: the owner logs in again and again.
	for range 5 {
		if r := from("198.51.100.7", oldPassword); r.Status != http.StatusOK {
			t.Fatalf("owner's repeated logins: got %d, want 200", r.Status)
		}
	}
}

// Many failing clients: past 10 consecutive failures the owner is mailed;
// clients that have failed wait longer and longer; a clean client still
// logs in with the right password.
func TestFailedLoginsMailTheOwnerAndGrowTheDelay(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"RATE_LIMIT_ACCOUNT": "100/min", "TRUSTED_PROXY_COUNT": "1"})
	b.addUser(t, "ada@example.com", oldPassword, true)
	from := func(ip, pw string) apptest.Response {
		return b.CallHeader(t, "POST", "/v1/auth/login", http.Header{"X-Forwarded-For": {ip}},
			map[string]string{"email": "ada@example.com", "password": pw})
	}
	// Ten clients, each failing once: no per-client limit is reached.
	for i := range 10 {
		if r := from(fmt.Sprintf("203.0.113.%d", i+1), "wrong passphrase"); r.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d: got %d, want 401", i+1, r.Status)
		}
	}
	m := b.WaitMail(t, "ada@example.com", "Failed logins")
	if !strings.Contains(string(m.Body), "10 failed attempts") {
		t.Errorf("failed-logins mail: %q", m.Body)
	}
	// A client that has failed now waits (10 failures: 32 s after the last).
	r := from("203.0.113.1", "wrong passphrase")
	if r.Status != http.StatusTooManyRequests {
		t.Fatalf("a failing client after 10 account failures: got %d, want 429", r.Status)
	}
	if ra := r.Header.Get("Retry-After"); ra == "" || ra == "1" {
		t.Errorf("Retry-After: got %q, want a growing delay", ra)
	}
	// A client that has not been failing is not slowed.
	if r := from("198.51.100.7", oldPassword); r.Status != http.StatusOK {
		t.Fatalf("clean client with the right password: got %d %v, want 200", r.Status, r.Body)
	}
}

// After 100 consecutive failures (NIST SP 800-63B's most), password logins
// lock until a reset.
func TestHundredFailuresLockUntilReset(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.addUser(t, "ada@example.com", oldPassword, true)
	if _, err := b.DB.Exec(context.Background(), `UPDATE users SET failed_logins = 100, last_failed_login_at = $1`, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	r := b.Call(t, "POST", "/v1/auth/login", "", map[string]string{"email": "ada@example.com", "password": oldPassword})
	if r.Status != http.StatusForbidden || !strings.Contains(fmt.Sprint(r.Body["detail"]), "reset") {
		t.Fatalf("login after 100 failures: got %d %v, want 403 saying to reset", r.Status, r.Body)
	}
	b.Want(t, http.StatusAccepted, "POST", "/v1/auth/password-reset", "", map[string]string{"email": "ada@example.com"})
	token := apptest.LinkToken(t, string(b.WaitMail(t, "ada@example.com", "Reset your password").Body), "/reset-password")
	b.Want(t, http.StatusOK, "POST", "/v1/auth/password-reset/confirm", "", map[string]string{"token": token, "new_password": newPassword})
	b.login(t, "ada@example.com", newPassword)
}

// Hole 4: a name is one line of printable text: no newline, URL trick,
// bidi override, escape or NUL (a 500 on PostgreSQL before).
func TestHostileNamesRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, name := range []string{
		"Ada\nVisit https://evil.test to keep your account",
		"Ada\u202egnp.exe",
		"Ada\x1b[31m",
		"Ada\x00",
		"Ada\u200b",
		"\u2066Ada",
		strings.Repeat("a", 101),
		"\u3164",                          // Hangul filler: a letter that shows as nothing
		"\u2800\u2800",                    // Braille blank
		" \u115f ",                        // Hangul choseong filler between spaces
		"Ada\ufffd",                       // what invalid UTF-8 in the JSON decodes to
		"A" + strings.Repeat("\u0301", 5), // a stack of combining marks
	} {
		r := b.Call(t, "POST", "/v1/auth/signup", "", map[string]string{"email": "ada@example.com", "password": oldPassword, "name": name})
		wantInvalid(t, r, "name")
	}
	if n := b.Count(t, `SELECT COUNT(*) FROM users`); n != 0 {
		t.Errorf("users after hostile names: got %d, want 0", n)
	}
	b.Want(t, http.StatusAccepted, "POST", "/v1/auth/signup", "", map[string]string{"email": "ada@example.com", "password": oldPassword, "name": "Ada Lovelace-Byron (née Byron) ✓ 李 Nguyễn"})
}

// Addresses: ASCII only, with a real domain name.
func TestHostileAddressesRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, email := range []string{
		"ada\u200b@example.com", "ada@exa\u200bmple.com", "ada\x00@example.com", "аda@example.com", // Cyrillic а
		"ada@[127.0.0.1]", "ada@localhost", "ada@-example.com", "ada@example..com", "ada@exämple.com",
		"ada@127.0.0.1", "ada@10.0.0.1", "ada@example.123",
	} {
		r := b.Call(t, "POST", "/v1/auth/signup", "", map[string]string{"email": email, "password": oldPassword, "name": "Ada"})
		wantInvalid(t, r, "email")
	}
	b.Want(t, http.StatusAccepted, "POST", "/v1/auth/signup", "", map[string]string{"email": "ada@xn--exmple-cua.com", "password": oldPassword, "name": "Ada"})
}

// Scopes: a read-only key reads and writes nothing, on any route; keys are
// capped per user; a key cannot revoke others unless it has full scope.
func TestAPIKeyScopesAndCap(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.addUser(t, "ada@example.com", oldPassword, true)
	access, _ := b.login(t, "ada@example.com", oldPassword)
	read := b.Want(t, http.StatusCreated, "POST", "/v1/api-keys", access, map[string]string{"name": "dashboard", "scope": "read"})
	if read["scope"] != "read" {
		t.Errorf("created key: got scope %v, want read", read["scope"])
	}
	full := b.createKey(t, access, "deploys")
	readSecret := read["secret"].(string)
	b.Want(t, http.StatusOK, "GET", "/v1/me", readSecret, nil)
	b.Want(t, http.StatusOK, "GET", "/v1/api-keys", readSecret, nil)
	for _, w := range []struct{ method, path string }{
		{"PATCH", "/v1/me"}, {"DELETE", "/v1/api-keys/" + full["id"].(string)}, {"POST", "/v1/api-keys"},
	} {
		if r := b.Call(t, w.method, w.path, readSecret, map[string]string{"name": "x"}); r.Status != http.StatusForbidden {
			t.Errorf("read-only key %s %s: got %d, want 403", w.method, w.path, r.Status)
		}
	}
	b.Want(t, http.StatusBadRequest, "POST", "/v1/api-keys", access, map[string]string{"name": "x", "scope": "admin"})
	// A full key may revoke the read-only one (and cannot mint: that needs a login).
	b.Want(t, http.StatusNoContent, "DELETE", "/v1/api-keys/"+read["id"].(string), full["secret"].(string), nil)

	for i := 2; i <= 20; i++ { // the full key and 19 more: 20
		b.createKey(t, access, fmt.Sprintf("key %d", i))
	}
	if r := b.Call(t, "POST", "/v1/api-keys", access, map[string]string{"name": "one too many"}); r.Status != http.StatusConflict {
		t.Errorf("the 21st key: got %d %v, want 409", r.Status, r.Body)
	}
}

// A token of an account that no longer exists is a 401, never a 500; the
// account's deletion needs its password and ends everything.
func TestDeleteAccount(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.addUser(t, "ada@example.com", oldPassword, true)
	access, refresh := b.login(t, "ada@example.com", oldPassword)
	key := b.createKey(t, access, "ci")["secret"].(string)
	wantInvalid(t, b.Call(t, "DELETE", "/v1/me", access, map[string]string{"password": "not my passphrase"}), "password")
	if r := b.Call(t, "DELETE", "/v1/me", key, map[string]string{"password": oldPassword}); r.Status != http.StatusForbidden {
		t.Errorf("delete with an API key: got %d, want 403 (it needs a login)", r.Status)
	}
	b.Want(t, http.StatusNoContent, "DELETE", "/v1/me", access, map[string]string{"password": oldPassword})
	for _, c := range []struct{ name, bearer string }{{"access token", access}, {"API key", key}} {
		for _, path := range []string{"/v1/me", "/v1/api-keys", "/v1/me/sessions"} {
			if r := b.Call(t, "GET", path, c.bearer, nil); r.Status != http.StatusUnauthorized {
				t.Errorf("GET %s with the %s of a deleted account: got %d %v, want 401", path, c.name, r.Status, r.Body)
			}
		}
	}
	b.Want(t, http.StatusUnauthorized, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": refresh})
	for _, table := range []string{"users", "sessions", "refresh_tokens", "api_keys"} {
		if n := b.Count(t, `SELECT COUNT(*) FROM `+table); n != 0 {
			t.Errorf("%s after deletion: got %d rows, want 0", table, n)
		}
	}
}

// A user sees their live logins and ends one; another user's is a 404.
func TestSessions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.addUser(t, "ada@example.com", oldPassword, true)
	b.addUser(t, "eve@example.com", oldPassword, true)
	phone, _ := b.login(t, "ada@example.com", oldPassword)
	laptop, laptopRefresh := b.login(t, "ada@example.com", oldPassword)
	eve, _ := b.login(t, "eve@example.com", oldPassword)

	list := b.Want(t, http.StatusOK, "GET", "/v1/me/sessions", phone, nil)["data"].([]any)
	if len(list) != 2 {
		t.Fatalf("sessions: got %d, want 2", len(list))
	}
	var laptopID string
	for _, s := range list {
		if m := s.(map[string]any); m["current"] == false {
			laptopID = m["id"].(string)
		}
	}
	if r := b.Call(t, "DELETE", "/v1/me/sessions/"+laptopID, eve, nil); r.Status != http.StatusNotFound {
		t.Errorf("another user's session: got %d, want 404", r.Status)
	}
	b.Want(t, http.StatusNoContent, "DELETE", "/v1/me/sessions/"+laptopID, phone, nil)
	b.Want(t, http.StatusUnauthorized, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": laptopRefresh})
	b.Want(t, http.StatusUnauthorized, "GET", "/v1/me/sessions", laptop, nil)
	if n := len(b.Want(t, http.StatusOK, "GET", "/v1/me/sessions", phone, nil)["data"].([]any)); n != 1 {
		t.Errorf("sessions after ending one: got %d, want 1", n)
	}
}

// In development the links in mail open pages served by rightsize itself,
// locked down by their own CSP: one inline script, by hash, calling the API.
func TestDevelopmentPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, path := range []string{"/verify-email?token=abc", "/reset-password?token=abc", "/login"} {
		res, err := http.Get(b.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		csp := res.Header.Get("Content-Security-Policy")
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(csp, "script-src 'sha256-") || strings.Contains(csp, "unsafe-inline'; connect-src *") {
			t.Errorf("GET %s: got %d %q, CSP %q; want 200 HTML with a script hash", path, res.StatusCode, res.Header.Get("Content-Type"), csp)
		}
	}
}

// An address with no account answers a run of wrong passwords exactly as
// one with an account does, delay included: the sixth failure does not
// tell which addresses have an account.
func TestUnknownAddressIsThrottledLikeAnAccount(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"RATE_LIMIT_ACCOUNT": "100/min"})
	b.addUser(t, "ada@example.com", oldPassword, true)
	statuses := func(email string) []int {
		var got []int
		for range 8 {
			r := b.Call(t, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": "wrong passphrase"})
			got = append(got, r.Status)
		}
		return got
	}
	known, unknown := statuses("ada@example.com"), statuses("nobody@example.com")
	if !slices.Equal(known, unknown) {
		t.Errorf("wrong passwords: %v for an account, %v for an unknown address; want the same", known, unknown)
	}
	if !slices.Contains(known, http.StatusTooManyRequests) {
		t.Errorf("wrong passwords for an account: %v, want the delay to start (429)", known)
	}
}
