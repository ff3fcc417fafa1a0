package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rightsize/rightsize/internal/app/apptest"
)

// The whole account flow through the HTTP API, with each mailer: signup →
// the verification email → verify → login → /v1/me → refresh → logout → the
// refresh token no longer works.
func TestAccountFlow(t *testing.T) {
	t.Parallel()
	for _, mailer := range []string{"smtp", "console"} {
		t.Run(mailer, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			if mailer == "console" {
				env["SMTP_URL"] = "" // unset: the console mailer logs each message
			}
			s := apptest.Start(t, env)
			// waitMail returns the body of the next message sent to ada.
			waitMail := func() string {
				t.Helper()
				if mailer == "smtp" {
					return string(s.WaitMail(t, "ada@example.com", "verify").Body)
				}
				line := s.Logs.WaitFor(t, `"to":"ada@example.com"`)
				var l struct{ Body string }
				json.Unmarshal([]byte(line), &l)
				return l.Body
			}

			out := s.Want(t, http.StatusAccepted, "POST", "/v1/auth/signup", "",
				map[string]string{"email": " Ada@Example.COM ", "password": "correct horse battery", "name": "Ada"})
			if out["status"] != "pending_verification" {
				t.Errorf("signup: got %v", out)
			}
			verifyToken := apptest.LinkToken(t, waitMail(), "/verify-email")

			s.Want(t, http.StatusForbidden, "POST", "/v1/auth/login", "",
				map[string]string{"email": "ada@example.com", "password": "correct horse battery"})
			verify := map[string]string{"token": verifyToken, "password": "correct horse battery"}
			s.Want(t, http.StatusOK, "POST", "/v1/auth/verify-email", "", verify)
			s.Want(t, http.StatusBadRequest, "POST", "/v1/auth/verify-email", "", verify)

			s.Want(t, http.StatusUnauthorized, "POST", "/v1/auth/login", "",
				map[string]string{"email": "ada@example.com", "password": "wrong horse battery"})
			tokens := s.Want(t, http.StatusOK, "POST", "/v1/auth/login", "",
				map[string]string{"email": "ADA@example.com", "password": "correct horse battery"})
			access, refresh := tokens["access_token"].(string), tokens["refresh_token"].(string)
			if access == "" || refresh == "" || tokens["token_type"] != "Bearer" {
				t.Fatalf("login: got %v", tokens)
			}

			me := s.Want(t, http.StatusOK, "GET", "/v1/me", access, nil)
			if me["email"] != "ada@example.com" || me["name"] != "Ada" || me["email_verified"] != true {
				t.Errorf("me: got %v", me)
			}
			me = s.Want(t, http.StatusOK, "PATCH", "/v1/me", access, map[string]string{"name": "Ada Lovelace"})
			if me["name"] != "Ada Lovelace" {
				t.Errorf("patched me: got %v", me)
			}

			rotated := s.Want(t, http.StatusOK, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": refresh})
			access2, refresh2 := rotated["access_token"].(string), rotated["refresh_token"].(string)
			if refresh2 == refresh || access2 == "" {
				t.Fatalf("refresh: got %v, want new tokens", rotated)
			}
			s.Want(t, http.StatusOK, "GET", "/v1/me", access2, nil)

			s.Want(t, http.StatusNoContent, "POST", "/v1/auth/logout", access2, nil)
			s.Want(t, http.StatusUnauthorized, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": refresh2})
		})
	}
}

// A refresh token used twice revokes its whole family: the thief's newer
// token stops working too.
func TestRefreshTokenReuseRevokesFamily(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, nil)
	tokens := signupAndLogin(t, s, "grace@example.com")

	first := tokens["refresh_token"].(string)
	second := s.Want(t, http.StatusOK, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": first})["refresh_token"].(string)
	s.Want(t, http.StatusUnauthorized, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": first})
	s.Want(t, http.StatusUnauthorized, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": second})
}

func signupAndLogin(t *testing.T, s *apptest.Server, email string) map[string]any {
	t.Helper()
	const pw = "a long enough passphrase"
	s.Want(t, http.StatusAccepted, "POST", "/v1/auth/signup", "", map[string]string{"email": email, "password": pw, "name": "Test"})
	tok := apptest.LinkToken(t, string(s.WaitMail(t, email, "verify").Body), "/verify-email")
	s.Want(t, http.StatusOK, "POST", "/v1/auth/verify-email", "", map[string]string{"token": tok, "password": pw})
	return s.Want(t, http.StatusOK, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": pw})
}

// Every route of every service requires credentials unless its service
// lists it as public: walk them all without credentials, and with a bad one.
func TestEveryNonPublicRouteRequiresCredentials(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, nil)
	checked := 0
	public := map[string][]string{}
	for _, r := range s.Routes {
		if r.Public {
			public[r.Service] = append(public[r.Service], r.Pattern)
			continue
		}
		method, path, _ := strings.Cut(r.Pattern, " ")
		path = regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(path, "x")
		for _, bearer := range []string{"", "not-a-token", "rsk_not-a-key"} {
			res := s.Call(t, method, path, bearer, map[string]any{})
			if res.Status != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") || res.Body["correlation_id"] == nil {
				t.Errorf("%s with credential %q: got %d %v, want 401 problem+json with a Bearer challenge", r.Pattern, bearer, res.Status, res.Body)
			}
		}
		checked++
	}
	// Public is part of the security surface: a route added to it by mistake
	// would skip the walk above, so the list itself is pinned here.
	wantPublic := map[string][]string{"auth": {
		"POST /v1/auth/signup", "POST /v1/auth/login", "POST /v1/auth/refresh", "POST /v1/auth/verify-email", "POST /v1/auth/verify-email/resend",
		"POST /v1/auth/password-reset", "POST /v1/auth/password-reset/confirm", "GET /.well-known/jwks.json",
		// The pages the mailed links open, in development only.
		"GET /login", "GET /reset-password", "GET /verify-email",
	}, "billing": {
		// A pricing page; Stripe's webhook, which authenticates by its signature.
		"GET /v1/billing/plans", "POST /webhooks/stripe",
	}}
	for name, want := range wantPublic {
		if got := public[name]; !slices.Equal(got, want) {
			t.Errorf("%s public routes: got %v, want %v", name, got, want)
		}
	}
	for name := range public {
		if _, ok := wantPublic[name]; !ok {
			t.Errorf("service %s has public routes %v that this test does not pin", name, public[name])
		}
	}
	if checked < 7 {
		t.Errorf("checked %d protected routes, want every one of auth's (7 or more)", checked)
	}
}

// A signup whose transaction fails leaves no account and queues no email; one
// that commits queues exactly one.
func TestSignupEmailOnlyWhenCommitted(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, nil)
	ctx := context.Background()

	// Break the signup transaction's last statement, the user insert, which
	// comes after its job is queued.
	if _, err := s.DB.Exec(ctx, `ALTER TABLE users RENAME TO users_away`); err != nil {
		t.Fatal(err)
	}
	body := map[string]string{"email": "linus@example.com", "password": "a long enough passphrase", "name": "Linus"}
	s.Want(t, http.StatusInternalServerError, "POST", "/v1/auth/signup", "", body)
	if n := s.Count(t, `SELECT count(*) FROM users_away`); n != 0 {
		t.Errorf("got %d users after a failed signup, want 0", n)
	}
	// The periodic cleanups (auth's, idempotency's) run at start; any other
	// job comes from a request.
	if n := s.Count(t, `SELECT count(*) FROM river_job WHERE kind NOT LIKE '%.cleanup'`); n != 0 {
		t.Errorf("got %d jobs after a failed signup, want 0", n)
	}

	if _, err := s.DB.Exec(ctx, `ALTER TABLE users_away RENAME TO users`); err != nil {
		t.Fatal(err)
	}
	s.Want(t, http.StatusAccepted, "POST", "/v1/auth/signup", "", body)
	s.WaitMail(t, "linus@example.com", "verify")
	if n := s.Count(t, `SELECT count(*) FROM river_job WHERE kind NOT LIKE '%.cleanup'`); n != 1 {
		t.Errorf("got %d jobs after one signup, want exactly 1, its verification email", n)
	}
}

// The credential endpoints are limited per client IP: past the limit a
// client gets 429 with Retry-After, and nothing is checked or changed.
func TestLoginRateLimitedPerIP(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, map[string]string{"RATE_LIMIT_AUTH": "2/min"})
	body := map[string]string{"email": "nobody@example.com", "password": "whatever it is"}
	for range 2 {
		s.Want(t, http.StatusUnauthorized, "POST", "/v1/auth/login", "", body)
	}
	res := s.Call(t, "POST", "/v1/auth/login", "", body)
	if res.Status != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" || res.Body["correlation_id"] == nil {
		t.Errorf("third login: got %d %v Retry-After %q, want 429 problem+json with Retry-After", res.Status, res.Body, res.Header.Get("Retry-After"))
	}
	// Other routes are not limited by it.
	s.Want(t, http.StatusOK, "GET", "/health", "", nil)
}
