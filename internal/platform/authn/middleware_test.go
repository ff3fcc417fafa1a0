package authn_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/authn"
	"github.com/rightsize/rightsize/internal/platform/httpx"
)

// fakeKeys is the app's seam, not our storage: a map stands in for the
// auth service's API-key table.
type fakeKeys struct {
	mu   sync.Mutex
	seen []string
}

func (f *fakeKeys) lookup(ctx context.Context, secret string) (authn.Principal, error) {
	f.mu.Lock()
	f.seen = append(f.seen, secret)
	f.mu.Unlock()
	switch secret {
	case "rsk_good":
		return authn.Principal{UserID: "user-2", APIKeyID: "key-1"}, nil
	case "rsk_revoked":
		return authn.Principal{}, apperr.New(apperr.ErrUnauthenticated, "API key revoked")
	case "rsk_nomessage":
		// Only context: the client reads the status text, never this.
		return authn.Principal{}, fmt.Errorf("key rsk_nomessage in table api_keys: %w", apperr.ErrUnauthenticated)
	case "rsk_dbdown":
		return authn.Principal{}, fmt.Errorf("look up API key: %w", apperr.ErrUnavailable)
	case "rsk_buggy":
		return authn.Principal{}, nil
	}
	return authn.Principal{}, apperr.Wrap(fmt.Errorf("no row for hash of %s", secret), apperr.ErrUnauthenticated, "unknown API key")
}

func TestRequire(t *testing.T) {
	t.Parallel()
	k := mustKeys(t, seed(1))
	now := func() time.Time { return t0 }
	valid := mustIssue(t, k, "user-1", "sess-1", 15*time.Minute, t0)
	expired := mustIssue(t, k, "user-1", "sess-1", 15*time.Minute, t0.Add(-time.Hour))
	foreign := mustIssue(t, mustKeys(t, seed(2)), "user-1", "sess-1", 15*time.Minute, t0)
	const (
		bare    = "Bearer"
		invalid = `Bearer error="invalid_token"`
	)

	tests := []struct {
		name          string
		header        []string // Authorization values; nil for none
		noLookup      bool
		wantStatus    int
		wantPrincipal authn.Principal // when 200
		wantDetail    string          // substring, when not 200
		wantChallenge string          // WWW-Authenticate, when 401
		wantLookup    string          // the secret the lookup must have seen
	}{
		{name: "no header", wantStatus: 401, wantDetail: "missing Authorization header", wantChallenge: bare},
		{name: "blank header", header: []string{"  "}, wantStatus: 401, wantDetail: "missing Authorization header", wantChallenge: bare},
		{name: "Basic scheme", header: []string{"Basic dXNlcjpwYXNz"}, wantStatus: 401, wantDetail: "scheme must be Bearer", wantChallenge: bare},
		{name: "token without scheme", header: []string{valid}, wantStatus: 401, wantDetail: "scheme must be Bearer", wantChallenge: bare},
		{name: "Bearer without credential", header: []string{"Bearer"}, wantStatus: 401, wantDetail: "missing bearer credential", wantChallenge: bare},
		{name: "Bearer and spaces", header: []string{"Bearer    "}, wantStatus: 401, wantDetail: "missing bearer credential", wantChallenge: bare},
		{name: "two headers", header: []string{"Bearer " + valid, "Bearer " + valid}, wantStatus: 401, wantDetail: "more than one", wantChallenge: bare},
		{
			name: "valid token", header: []string{"Bearer " + valid},
			wantStatus: 200, wantPrincipal: authn.Principal{UserID: "user-1", SessionID: "sess-1"},
		},
		{
			name: "scheme in lower case", header: []string{"bearer " + valid},
			wantStatus: 200, wantPrincipal: authn.Principal{UserID: "user-1", SessionID: "sess-1"},
		},
		{name: "expired token", header: []string{"Bearer " + expired}, wantStatus: 401, wantDetail: "token expired", wantChallenge: invalid},
		{name: "token from another key", header: []string{"Bearer " + foreign}, wantStatus: 401, wantDetail: "invalid token", wantChallenge: invalid},
		{name: "garbage token", header: []string{"Bearer not-a-token"}, wantStatus: 401, wantDetail: "invalid token", wantChallenge: invalid},
		{
			name: "API key", header: []string{"Bearer rsk_good"},
			wantStatus: 200, wantPrincipal: authn.Principal{UserID: "user-2", APIKeyID: "key-1"}, wantLookup: "rsk_good",
		},
		{name: "revoked API key", header: []string{"Bearer rsk_revoked"}, wantStatus: 401, wantDetail: "API key revoked", wantChallenge: invalid, wantLookup: "rsk_revoked"},
		{name: "unknown API key", header: []string{"Bearer rsk_nope"}, wantStatus: 401, wantDetail: "unknown API key", wantChallenge: invalid, wantLookup: "rsk_nope"},
		{name: "lookup error without a message", header: []string{"Bearer rsk_nomessage"}, wantStatus: 401, wantDetail: "Unauthorized", wantChallenge: invalid, wantLookup: "rsk_nomessage"},
		{name: "API key store down", header: []string{"Bearer rsk_dbdown"}, wantStatus: 503, wantLookup: "rsk_dbdown"},
		{name: "lookup returns no user", header: []string{"Bearer rsk_buggy"}, wantStatus: 500, wantLookup: "rsk_buggy"},
		{name: "API key where none are accepted", header: []string{"Bearer rsk_good"}, noLookup: true, wantStatus: 401, wantDetail: "API keys are not accepted", wantChallenge: invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := &fakeKeys{}
			lookup := authn.APIKeyLookup(fake.lookup)
			if tt.noLookup {
				lookup = nil
			}
			a := authn.NewAuthenticator(k, lookup, now)

			var (
				called    bool
				got       authn.Principal
				gotOK     bool
				gotUserID string
			)
			next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called = true
				got, gotOK = authn.PrincipalFrom(r.Context())
				gotUserID = httpx.InfoFrom(r.Context()).UserID
			})
			h := httpx.Chain(next, httpx.RequestID(), authn.Require(a))

			req := httptest.NewRequest("GET", "/v1/me", nil)
			for _, v := range tt.header {
				req.Header.Add("Authorization", v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			if rec.Code != tt.wantStatus {
				t.Fatalf("status: got %d, want %d (body %s)", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantLookup != "" && (len(fake.seen) != 1 || fake.seen[0] != tt.wantLookup) {
				t.Errorf("lookup calls: got %q, want [%q]", fake.seen, tt.wantLookup)
			}
			if tt.wantLookup == "" && len(fake.seen) != 0 {
				t.Errorf("lookup calls: got %q, want none", fake.seen)
			}
			if tt.wantStatus == http.StatusOK {
				if !called || !gotOK || got != tt.wantPrincipal {
					t.Errorf("principal in handler: got %+v (present %v), want %+v", got, gotOK, tt.wantPrincipal)
				}
				if gotUserID != tt.wantPrincipal.UserID {
					t.Errorf("httpx.Info UserID: got %q, want %q", gotUserID, tt.wantPrincipal.UserID)
				}
				return
			}
			if called {
				t.Errorf("next handler: got called, want not")
			}
			if got, want := rec.Header().Get("Content-Type"), httpx.ContentTypeProblem; got != want {
				t.Errorf("Content-Type: got %q, want %q", got, want)
			}
			var p httpx.ProblemDetails
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatalf("body: %v (%s)", err, rec.Body)
			}
			if p.Status != tt.wantStatus || p.CorrelationID == "" {
				t.Errorf("problem: got status %d, correlation_id %q; want %d and an ID", p.Status, p.CorrelationID, tt.wantStatus)
			}
			if !strings.Contains(p.Detail, tt.wantDetail) {
				t.Errorf("detail: got %q, want it to contain %q", p.Detail, tt.wantDetail)
			}
			if strings.Contains(p.Detail, "authentication required") || strings.Contains(p.Detail, "rsk_") {
				t.Errorf("detail: got %q, want neither the kind's text nor the key", p.Detail)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.wantChallenge {
				t.Errorf("WWW-Authenticate: got %q, want %q", got, tt.wantChallenge)
			}
		})
	}
}

func TestAuthenticateErrorsAreUnauthenticated(t *testing.T) {
	t.Parallel()
	a := authn.NewAuthenticator(mustKeys(t, seed(1)), nil, nil)
	for _, h := range []string{"", "Basic x", "Bearer", "Bearer junk", "Bearer rsk_x"} {
		req := httptest.NewRequest("GET", "/", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		_, err := a.Authenticate(req)
		if !errors.Is(err, apperr.ErrUnauthenticated) {
			t.Errorf("Authenticate with %q: got %v, want an error wrapping apperr.ErrUnauthenticated", h, err)
		}
	}
}

func TestAuthenticateUsesRealClockByDefault(t *testing.T) {
	t.Parallel()
	k := mustKeys(t, seed(1))
	a := authn.NewAuthenticator(k, nil, nil)
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+mustIssue(t, k, "user-1", "sess-1", time.Minute, time.Now()))
	if _, err := a.Authenticate(req); err != nil {
		t.Errorf("Authenticate with a fresh token: got %v, want success", err)
	}
	req.Header.Set("Authorization", "Bearer "+mustIssue(t, k, "user-1", "sess-1", time.Minute, time.Now().Add(-time.Hour)))
	if _, err := a.Authenticate(req); err == nil {
		t.Errorf("Authenticate with an hour-old token: got success, want an error")
	}
}

func TestPrincipalFrom(t *testing.T) {
	t.Parallel()
	if p, ok := authn.PrincipalFrom(context.Background()); ok {
		t.Errorf("PrincipalFrom(empty context): got %+v, true; want false", p)
	}
	want := authn.Principal{UserID: "u", SessionID: "s"}
	got, ok := authn.PrincipalFrom(authn.WithPrincipal(context.Background(), want))
	if !ok || got != want {
		t.Errorf("PrincipalFrom: got %+v, %v; want %+v, true", got, ok, want)
	}
}
