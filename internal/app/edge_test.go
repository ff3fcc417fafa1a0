package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/app/apptest"
)

// send makes a request to s with the given headers and returns the
// response, its body read.
func send(t *testing.T, s *apptest.Server, method, path string, header http.Header, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, raw
}

// accessLine returns the access-log line of the request with this ID,
// waiting a little for it: it is written as the handler returns.
func accessLine(t *testing.T, s *apptest.Server, requestID string) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, l := range s.Logs.Records(t) {
			if l["msg"] == "request" && l["request_id"] == requestID {
				return l
			}
		}
	}
	t.Fatalf("no access-log line with request_id %s in\n%s", requestID, s.Logs)
	return nil
}

// A browser preflight carries no credentials: from an allowed origin it is
// granted on every route, guarded ones included; from any other origin, on
// no route. The attack is a page of another origin reading the API with a
// visitor's token.
func TestCORSOnEveryRoute(t *testing.T) {
	t.Parallel()
	const origin, evil = "https://app.example.com", "https://evil.example"
	s := apptest.Start(t, map[string]string{"CORS_ALLOWED_ORIGINS": origin + ",http://localhost:5173"})
	paths := []string{"GET /health", "GET /ready"}
	for _, r := range s.Routes {
		paths = append(paths, r.Pattern)
	}
	for _, p := range paths {
		method, path, _ := strings.Cut(p, " ")
		path = regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(path, "x")
		pre := func(o string) *http.Response {
			res, _ := send(t, s, "OPTIONS", path, http.Header{
				"Origin":                         {o},
				"Access-Control-Request-Method":  {method},
				"Access-Control-Request-Headers": {"authorization,content-type,idempotency-key"},
			}, "")
			return res
		}
		res := pre(evil)
		if res.StatusCode == http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s from %s: got %d, Allow-Origin %q; want no grant", p, evil, res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
		}
		res = pre(origin)
		if res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != origin ||
			!strings.Contains(res.Header.Get("Access-Control-Allow-Methods"), method) ||
			!strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Errorf("%s from %s: got %d %v, want a 204 grant", p, origin, res.StatusCode, res.Header)
		}
		if res.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s: got Access-Control-Allow-Credentials, want none", p)
		}
	}

	// The real request: the grant rides on errors too, so the page can read a 401.
	res, _ := send(t, s, "GET", "/v1/me", http.Header{"Origin": {origin}}, "")
	if res.StatusCode != http.StatusUnauthorized || res.Header.Get("Access-Control-Allow-Origin") != origin ||
		res.Header.Get("Access-Control-Expose-Headers") != "X-Request-ID, Retry-After" {
		t.Errorf("GET /v1/me from %s: got %d %v, want 401 with the grant", origin, res.StatusCode, res.Header)
	}
	res, _ = send(t, s, "GET", "/v1/me", http.Header{"Origin": {evil}}, "")
	if res.Header.Get("Access-Control-Allow-Origin") != "" || !slices.Contains(res.Header.Values("Vary"), "Origin") {
		t.Errorf("GET /v1/me from %s: got %v, want no grant and Vary: Origin", evil, res.Header)
	}
}

// The attack: a client rotates X-Forwarded-For to look like many clients
// and escape the per-IP login limit. From a peer outside
// TRUSTED_PROXY_CIDRS the header is ignored; from one inside, it names the
// client. The access log says which client the server believed.
func TestForwardedForOnlyFromTrustedProxies(t *testing.T) {
	t.Parallel()
	login := `{"email":"nobody@example.com","password":"whatever it is"}`
	for _, tt := range []struct {
		name, cidrs string
		trusted     bool
	}{
		{"peer outside the CIDRs", "10.0.0.0/8", false},
		{"peer inside the CIDRs", "10.0.0.0/8,127.0.0.0/8,::1", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := apptest.Start(t, map[string]string{
				"RATE_LIMIT_AUTH":     "2/min",
				"TRUSTED_PROXY_COUNT": "1",
				"TRUSTED_PROXY_CIDRS": tt.cidrs,
			})
			for i, spoof := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"} {
				res, _ := send(t, s, "POST", "/v1/auth/login", http.Header{"X-Forwarded-For": {"6.6.6.6, " + spoof}}, login)
				want, wantIP := http.StatusUnauthorized, spoof
				if !tt.trusted {
					wantIP = "127.0.0.1"
					if i >= 2 {
						want = http.StatusTooManyRequests
					}
				}
				if res.StatusCode != want {
					t.Errorf("login %d as %s: got %d, want %d", i+1, spoof, res.StatusCode, want)
				}
				if got := accessLine(t, s, res.Header.Get("X-Request-ID"))["client_ip"]; got != wantIP {
					t.Errorf("login %d as %s: access log client_ip got %v, want %s", i+1, spoof, got, wantIP)
				}
			}
		})
	}
}

// Security warnings logged with the request's context name the client.
func TestSecurityWarningNamesClientIP(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, nil)
	first := signupAndLogin(t, s, "mallory@example.com")["refresh_token"].(string)
	s.Want(t, http.StatusOK, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": first})
	s.Want(t, http.StatusUnauthorized, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": first})
	var l map[string]any
	json.Unmarshal([]byte(s.Logs.WaitFor(t, "refresh token reused")), &l)
	if l["level"] != "WARN" || l["client_ip"] != "127.0.0.1" || l["request_id"] == nil {
		t.Errorf("reuse warning: got %v, want WARN with client_ip 127.0.0.1 and request_id", l)
	}
}

// The attack: a client without an account floods guarded routes with made-up
// tokens and keys, each costing a signature check or a database lookup.
// Past RATE_LIMIT_BAD_CREDENTIALS its IP is answered 429 before any of that,
// bar an access token that verifies; a working credential never counts
// against the limit.
func TestBadCredentialsLimitedPerIP(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, map[string]string{"RATE_LIMIT_BAD_CREDENTIALS": "3/min"})
	access := signupAndLogin(t, s, "ada@example.com")["access_token"].(string)
	for range 10 {
		s.Want(t, http.StatusOK, "GET", "/v1/me", access, nil)
	}
	// Without a credential there is nothing to verify, and nothing counts.
	for range 5 {
		s.Want(t, http.StatusUnauthorized, "GET", "/v1/me", "", nil)
	}

	bad := []string{"not-a-token", "rsk_not-a-key", "rsk_another-made-up-key"}
	for _, cred := range bad {
		res := s.Call(t, "GET", "/v1/me", cred, nil)
		if res.Status != http.StatusUnauthorized {
			t.Fatalf("bad credential %q: got %d, want 401", cred, res.Status)
		}
	}
	if q := accessLine(t, s, s.Call(t, "GET", "/v1/api-keys", "rsk_one-more", nil).Header.Get("X-Request-ID"))["db_queries"]; q != 0.0 {
		t.Errorf("4th bad credential: got db_queries %v, want 0: refused before the lookup", q)
	}
	// An access token that verifies still gets through: the IP may be a NAT
	// shared with honest clients.
	s.Want(t, http.StatusOK, "GET", "/v1/me", access, nil)
	for _, cred := range []string{"not-a-token", "rsk_x"} {
		res := s.Call(t, "GET", "/v1/me", cred, nil)
		if res.Status != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" || res.Body["correlation_id"] == nil {
			t.Errorf("credential after the limit: got %d %v Retry-After %q, want 429 problem+json with Retry-After",
				res.Status, res.Body, res.Header.Get("Retry-After"))
		}
	}
	// The limit is per IP and on credentials only: the public routes and
	// requests without a credential are untouched.
	s.Want(t, http.StatusUnauthorized, "GET", "/v1/me", "", nil)
	s.Want(t, http.StatusUnauthorized, "POST", "/v1/auth/login", "", map[string]string{"email": "ada@example.com", "password": "not the password"})
}

// Responses that carry a token or a secret must not be kept by a browser or
// a shared cache: every API response says no-store.
func TestTokenResponsesAreNotStored(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, nil)
	const email, pw = "hopper@example.com", "a long enough passphrase"
	want := func(r apptest.Response, what string) {
		t.Helper()
		if got := r.Header.Values("Cache-Control"); len(got) != 1 || got[0] != "no-store" {
			t.Errorf("%s: Cache-Control got %q, want no-store", what, got)
		}
	}
	r := s.Call(t, "POST", "/v1/auth/signup", "", map[string]string{"email": email, "password": pw, "name": "Grace"})
	want(r, "signup")
	tok := apptest.LinkToken(t, string(s.WaitMail(t, email, "verify").Body), "/verify-email")
	want(s.Call(t, "POST", "/v1/auth/verify-email", "", map[string]string{"token": tok, "password": pw}), "verify-email")
	login := s.Call(t, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": pw})
	if login.Status != http.StatusOK {
		t.Fatalf("login: got %d %v", login.Status, login.Body)
	}
	want(login, "login")
	refreshed := s.Call(t, "POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": login.Body["refresh_token"].(string)})
	if refreshed.Status != http.StatusOK {
		t.Fatalf("refresh: got %d %v", refreshed.Status, refreshed.Body)
	}
	want(refreshed, "refresh")
	access := refreshed.Body["access_token"].(string)
	key := s.Call(t, "POST", "/v1/api-keys", access, map[string]string{"name": "ci"})
	if key.Status != http.StatusCreated || key.Body["secret"] == nil {
		t.Fatalf("create API key: got %d %v", key.Status, key.Body)
	}
	want(key, "create API key")
	want(s.Call(t, "GET", "/v1/me", access, nil), "me")
	want(s.Call(t, "GET", "/v1/api-keys", key.Body["secret"].(string), nil), "list API keys")
	want(s.Call(t, "GET", "/nowhere", "", nil), "404")
}
