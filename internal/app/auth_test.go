package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/testkit"
)

// client talks JSON to a running server.
type client struct {
	t    *testing.T
	base string
}

func (c client) call(method, path, bearer string, body any) (int, map[string]any, http.Header) {
	c.t.Helper()
	var rd *strings.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = strings.NewReader(string(b))
	} else {
		rd = strings.NewReader("")
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out, res.Header
}

func (c client) want(status int, method, path, bearer string, body any) map[string]any {
	c.t.Helper()
	got, out, _ := c.call(method, path, bearer, body)
	if got != status {
		c.t.Fatalf("%s %s: got %d %v, want %d", method, path, got, out, status)
	}
	return out
}

var tokenInLink = regexp.MustCompile(`token=([A-Za-z0-9%_.~-]+)`)

func tokenFrom(t *testing.T, text string) string {
	t.Helper()
	m := tokenInLink.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no token link in %q", text)
	}
	tok, err := url.QueryUnescape(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// authEnv runs the real catalog with limits loose enough for a test's burst.
func authEnv(extra map[string]string) map[string]string {
	env := map[string]string{
		"PUBLIC_URL":         "http://app.test",
		"RATE_LIMIT_AUTH":    "1000/min",
		"RATE_LIMIT_ACCOUNT": "1000/min",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// The whole account flow through the HTTP API, with each mailer: signup →
// the verification email → verify → login → /v1/me → refresh → logout → the
// refresh token no longer works.
func TestAccountFlow(t *testing.T) {
	t.Parallel()
	for _, mailer := range []string{"smtp", "console"} {
		t.Run(mailer, func(t *testing.T) {
			t.Parallel()
			env := authEnv(nil)
			var smtpServer *testkit.SMTP
			if mailer == "smtp" {
				smtpServer = testkit.SMTPServer(t)
				env["SMTP_URL"] = smtpServer.URL()
			}
			r := startServe(t, catalog, env)
			c := client{t, r.api}
			// waitMail returns the body of the next message sent to ada.
			waitMail := func() string {
				t.Helper()
				if smtpServer != nil {
					m := smtpServer.Wait(t, 30*time.Second)
					if len(m.To) != 1 || m.To[0] != "ada@example.com" {
						t.Fatalf("mail to %v, want ada@example.com", m.To)
					}
					return string(m.Body)
				}
				line := r.logs.WaitFor(t, `"to":"ada@example.com"`)
				var l struct{ Body string }
				json.Unmarshal([]byte(line), &l)
				return l.Body
			}

			out := c.want(http.StatusAccepted, "POST", "/v1/auth/signup", "",
				map[string]string{"email": " Ada@Example.COM ", "password": "correct horse battery", "name": "Ada"})
			if out["status"] != "pending_verification" {
				t.Errorf("signup: got %v", out)
			}
			verifyToken := tokenFrom(t, waitMail())

			c.want(http.StatusForbidden, "POST", "/v1/auth/login", "",
				map[string]string{"email": "ada@example.com", "password": "correct horse battery"})
			c.want(http.StatusOK, "POST", "/v1/auth/verify-email", "", map[string]string{"token": verifyToken})
			c.want(http.StatusBadRequest, "POST", "/v1/auth/verify-email", "", map[string]string{"token": verifyToken})

			c.want(http.StatusUnauthorized, "POST", "/v1/auth/login", "",
				map[string]string{"email": "ada@example.com", "password": "wrong horse battery"})
			tokens := c.want(http.StatusOK, "POST", "/v1/auth/login", "",
				map[string]string{"email": "ADA@example.com", "password": "correct horse battery"})
			access, refresh := tokens["access_token"].(string), tokens["refresh_token"].(string)
			if access == "" || refresh == "" || tokens["token_type"] != "Bearer" {
				t.Fatalf("login: got %v", tokens)
			}

			me := c.want(http.StatusOK, "GET", "/v1/me", access, nil)
			if me["email"] != "ada@example.com" || me["name"] != "Ada" || me["email_verified"] != true {
				t.Errorf("me: got %v", me)
			}
			me = c.want(http.StatusOK, "PATCH", "/v1/me", access, map[string]string{"name": "Ada Lovelace"})
			if me["name"] != "Ada Lovelace" {
				t.Errorf("patched me: got %v", me)
			}

			rotated := c.want(http.StatusOK, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": refresh})
			access2, refresh2 := rotated["access_token"].(string), rotated["refresh_token"].(string)
			if refresh2 == refresh || access2 == "" {
				t.Fatalf("refresh: got %v, want new tokens", rotated)
			}
			c.want(http.StatusOK, "GET", "/v1/me", access2, nil)

			c.want(http.StatusNoContent, "POST", "/v1/auth/logout", access2, nil)
			c.want(http.StatusUnauthorized, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": refresh2})
		})
	}
}

// A refresh token used twice revokes its whole family: the thief's newer
// token stops working too.
func TestRefreshTokenReuseRevokesFamily(t *testing.T) {
	t.Parallel()
	smtpServer := testkit.SMTPServer(t)
	r := startServe(t, catalog, authEnv(map[string]string{"SMTP_URL": smtpServer.URL()}))
	c := client{t, r.api}
	tokens := signupAndLogin(t, c, smtpServer, "grace@example.com")

	first := tokens["refresh_token"].(string)
	second := c.want(http.StatusOK, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": first})["refresh_token"].(string)
	c.want(http.StatusUnauthorized, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": first})
	c.want(http.StatusUnauthorized, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": second})
}

func signupAndLogin(t *testing.T, c client, smtpServer *testkit.SMTP, email string) map[string]any {
	t.Helper()
	const pw = "a long enough passphrase"
	c.want(http.StatusAccepted, "POST", "/v1/auth/signup", "", map[string]string{"email": email, "password": pw, "name": "Test"})
	tok := tokenFrom(t, string(smtpServer.Wait(t, 30*time.Second).Body))
	c.want(http.StatusOK, "POST", "/v1/auth/verify-email", "", map[string]string{"token": tok})
	return c.want(http.StatusOK, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": pw})
}

// Every route of every service requires credentials unless its service
// lists it as public: walk them all without credentials, and with a bad one.
func TestEveryNonPublicRouteRequiresCredentials(t *testing.T) {
	t.Parallel()
	r := startServe(t, catalog, authEnv(nil))
	c := client{t, r.api}
	checked := 0
	for _, s := range catalog {
		rec := &recordingRouter{}
		s.Routes(rec, Deps{Config: loadConfig(t, nil)})
		for _, pattern := range rec.patterns {
			if contains(s.Public, pattern) {
				continue
			}
			method, path, _ := strings.Cut(pattern, " ")
			path = regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(path, "x")
			for _, bearer := range []string{"", "not-a-token", "rsk_not-a-key"} {
				status, body, header := c.call(method, path, bearer, map[string]any{})
				if status != http.StatusUnauthorized || !strings.HasPrefix(header.Get("WWW-Authenticate"), "Bearer") || body["correlation_id"] == nil {
					t.Errorf("%s with credential %q: got %d %v, want 401 problem+json with a Bearer challenge", pattern, bearer, status, body)
				}
			}
			checked++
		}
	}
	// Public is part of the security surface: a route added to it by mistake
	// would skip the walk above, so the list itself is pinned here.
	wantPublic := map[string][]string{"auth": {
		"POST /v1/auth/signup", "POST /v1/auth/login", "POST /v1/auth/refresh", "POST /v1/auth/verify-email",
		"POST /v1/auth/password-reset", "POST /v1/auth/password-reset/confirm",
	}}
	for _, s := range catalog {
		if got, want := strings.Join(s.Public, ", "), strings.Join(wantPublic[s.Name], ", "); got != want {
			t.Errorf("%s public routes: got %s, want %s", s.Name, got, want)
		}
	}
	if checked < 7 {
		t.Errorf("checked %d protected routes, want every one of auth's (7 or more)", checked)
	}
}

type recordingRouter struct{ patterns []string }

func (r *recordingRouter) Handle(pattern string, _ http.Handler) {
	r.patterns = append(r.patterns, pattern)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// A signup whose transaction fails leaves no account and queues no email; one
// that commits queues exactly one.
func TestSignupEmailOnlyWhenCommitted(t *testing.T) {
	t.Parallel()
	dbURL := testkit.DatabaseURL(t)
	smtpServer := testkit.SMTPServer(t)
	r := startServe(t, catalog, authEnv(map[string]string{"DATABASE_URL": dbURL, "SMTP_URL": smtpServer.URL()}))
	c := client{t, r.api}
	cfg := loadConfig(t, map[string]string{"DATABASE_URL": dbURL})
	db, err := database.Open(context.Background(), database.Options{Dialect: database.Dialect(cfg.DBDialect), DSN: cfg.DBDSN, MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	count := func(query string) int {
		t.Helper()
		var n int
		if err := db.QueryRow(ctx, query).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Break the signup transaction's last statement, the user insert, which
	// comes after its job is queued.
	if _, err := db.Exec(ctx, `ALTER TABLE users RENAME TO users_away`); err != nil {
		t.Fatal(err)
	}
	body := map[string]string{"email": "linus@example.com", "password": "a long enough passphrase", "name": "Linus"}
	c.want(http.StatusInternalServerError, "POST", "/v1/auth/signup", "", body)
	if n := count(`SELECT count(*) FROM users_away`); n != 0 {
		t.Errorf("got %d users after a failed signup, want 0", n)
	}
	if n := count(`SELECT count(*) FROM river_job`); n != 0 {
		t.Errorf("got %d jobs after a failed signup, want 0", n)
	}

	if _, err := db.Exec(ctx, `ALTER TABLE users_away RENAME TO users`); err != nil {
		t.Fatal(err)
	}
	c.want(http.StatusAccepted, "POST", "/v1/auth/signup", "", body)
	if m := smtpServer.Wait(t, 30*time.Second); m.To[0] != "linus@example.com" {
		t.Errorf("got mail to %v, want linus@example.com", m.To)
	}
	if n := count(`SELECT count(*) FROM river_job`); n != 1 {
		t.Errorf("got %d jobs after one signup, want exactly 1, its verification email", n)
	}
}

// The credential endpoints are limited per client IP: past the limit a
// client gets 429 with Retry-After, and nothing is checked or changed.
func TestLoginRateLimitedPerIP(t *testing.T) {
	t.Parallel()
	r := startServe(t, catalog, authEnv(map[string]string{"RATE_LIMIT_AUTH": "2/min"}))
	c := client{t, r.api}
	body := map[string]string{"email": "nobody@example.com", "password": "whatever it is"}
	for range 2 {
		c.want(http.StatusUnauthorized, "POST", "/v1/auth/login", "", body)
	}
	status, problem, header := c.call("POST", "/v1/auth/login", "", body)
	if status != http.StatusTooManyRequests || header.Get("Retry-After") == "" || problem["correlation_id"] == nil {
		t.Errorf("third login: got %d %v Retry-After %q, want 429 problem+json with Retry-After", status, problem, header.Get("Retry-After"))
	}
	// Other routes are not limited by it.
	c.want(http.StatusOK, "GET", "/health", "", nil)
}
