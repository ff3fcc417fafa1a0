package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/httpx"
)

const (
	goodOrigin = "https://app.example.com"
	evilOrigin = "https://evil.example"
)

// corsServer serves, behind CORS(origins), a route that refuses requests
// without an Authorization header, as the app's guard does.
func corsServer(t testing.TB, origins ...string) *testBundle {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /v1/me", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			httpx.Error(w, r, apperr.ErrUnauthenticated)
			return
		}
		w.Header().Set("Retry-After", "0") // a header a page may read
		httpx.Encode(w, http.StatusOK, map[string]string{"id": "usr_1"})
	}))
	mux.Handle("POST /v1/things", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	}))
	srv := httptest.NewServer(httpx.Chain(httpx.Routes(mux), httpx.SecurityHeaders(), httpx.RequestID(), httpx.CORS(origins)))
	t.Cleanup(srv.Close)
	return &testBundle{srv: srv}
}

func preflight(origin, method string) http.Header {
	return http.Header{
		"Origin":                         {origin},
		"Access-Control-Request-Method":  {method},
		"Access-Control-Request-Headers": {"authorization,content-type"},
	}
}

// The attack: a page of another origin tries to call the API with the
// visitor's browser, first by preflight, then with a simple request whose
// response it would read. Neither gets a grant; an allowed origin gets both,
// without credentials for the preflight.
func TestCORS(t *testing.T) {
	t.Parallel()
	b := corsServer(t, goodOrigin, "http://localhost:5173")

	t.Run("preflight from another origin", func(t *testing.T) {
		t.Parallel()
		for _, origin := range []string{evilOrigin, "null", "https://app.example.com.evil.example", "https://APP.example.com", "http://app.example.com", goodOrigin + ":443", goodOrigin + "/"} {
			resp := b.do(t, "OPTIONS", "/v1/me", preflight(origin, "GET"), "")
			if resp.StatusCode == http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.Header.Get("Access-Control-Allow-Methods") != "" {
				t.Errorf("origin %q: got %d, Allow-Origin %q, Allow-Methods %q; want no grant", origin, resp.StatusCode,
					resp.Header.Get("Access-Control-Allow-Origin"), resp.Header.Get("Access-Control-Allow-Methods"))
			}
		}
	})
	t.Run("request from another origin", func(t *testing.T) {
		t.Parallel()
		resp := b.do(t, "GET", "/v1/me", http.Header{"Origin": {evilOrigin}, "Authorization": {"Bearer x"}}, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("got %d, want 200: CORS does not block, the browser does", resp.StatusCode)
		}
		for _, h := range []string{"Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "Access-Control-Allow-Credentials"} {
			if got := resp.Header.Get(h); got != "" {
				t.Errorf("%s: got %q, want none", h, got)
			}
		}
		if got := resp.Header.Values("Vary"); len(got) != 1 || got[0] != "Origin" {
			t.Errorf("Vary: got %q, want Origin", got)
		}
	})
	t.Run("two Origin headers", func(t *testing.T) {
		t.Parallel()
		h := preflight(goodOrigin, "GET")
		h.Add("Origin", evilOrigin)
		resp := b.do(t, "OPTIONS", "/v1/me", h, "")
		if resp.StatusCode == http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("got %d, Allow-Origin %q; want no grant", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	})
	t.Run("preflight from an allowed origin", func(t *testing.T) {
		t.Parallel()
		// To a guarded route without credentials, to another method's route,
		// and to no route at all: answered before the router.
		for _, path := range []string{"/v1/me", "/v1/things", "/nowhere"} {
			resp := b.do(t, "OPTIONS", path, preflight(goodOrigin, "POST"), "")
			want := map[string]string{
				"Access-Control-Allow-Origin":  goodOrigin,
				"Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, PATCH, DELETE",
				"Access-Control-Allow-Headers": "Authorization, Content-Type, Idempotency-Key, X-Request-ID",
				"Access-Control-Max-Age":       "600",
				"Vary":                         "Origin",
			}
			if resp.StatusCode != http.StatusNoContent {
				t.Errorf("%s: got %d %s, want 204", path, resp.StatusCode, resp.body)
			}
			for k, v := range want {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s: %s got %q, want %q", path, k, got, v)
				}
			}
			if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != "" {
				t.Errorf("%s: Allow-Credentials got %q, want none: tokens travel in a header, never cookies", path, got)
			}
		}
	})
	t.Run("requests from an allowed origin", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			auth   string
			status int
		}{{"Bearer x", http.StatusOK}, {"", http.StatusUnauthorized}} {
			h := http.Header{"Origin": {"http://localhost:5173"}}
			if tt.auth != "" {
				h.Set("Authorization", tt.auth)
			}
			resp := b.do(t, "GET", "/v1/me", h, "")
			if resp.StatusCode != tt.status {
				t.Errorf("got %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "http://localhost:5173" {
				t.Errorf("%d: Allow-Origin got %q, want the origin", tt.status, got)
			}
			if got := resp.Header.Get("Access-Control-Expose-Headers"); got != "X-Request-ID, Retry-After" {
				t.Errorf("%d: Expose-Headers got %q", tt.status, got)
			}
		}
	})
	t.Run("OPTIONS that is not a preflight", func(t *testing.T) {
		t.Parallel()
		resp := b.do(t, "OPTIONS", "/v1/me", http.Header{"Origin": {goodOrigin}}, "")
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("got %d, want 405 from the router", resp.StatusCode)
		}
	})
}

// A wildcard never becomes a grant, even if a caller passes one; and no
// origins means no CORS at all.
func TestCORSNeverGrantsWildcard(t *testing.T) {
	t.Parallel()
	for _, origins := range [][]string{{"*"}, nil} {
		b := corsServer(t, origins...)
		for _, origin := range []string{"*", evilOrigin} {
			resp := b.do(t, "OPTIONS", "/v1/me", preflight(origin, "GET"), "")
			if resp.StatusCode == http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("origins %q, Origin %q: got %d, Allow-Origin %q; want no grant", origins, origin, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
			}
		}
	}
}
