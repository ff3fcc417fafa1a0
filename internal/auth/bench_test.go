package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// BenchmarkLogin measures a failed login through the whole handler chain,
// for an account that exists and for one that does not: the figures should
// be close, since the time an answer takes must not tell which is which.
// It runs at the default costs, not the tests' cheap ones.
func BenchmarkLogin(b *testing.B) {
	env := setup(b, map[string]string{"PASSWORD_HASH": defaultCosts})
	userID := env.addUser(b, "ada@example.com", oldPassword, true)
	if _, err := env.DB.Exec(b.Context(), `UPDATE users SET password_hash = $1 WHERE id = $2`, hashWith(b, oldPassword, defaultCosts), userID); err != nil {
		b.Fatal(err)
	}
	// Each failure slows the next from the same client and 100 lock the
	// account, so every login comes from an address of its own and the
	// count of failures is reset every 50 logins (one UPDATE in 50 argon2id
	// verifications: noise).
	var n int
	login := func(tb testing.TB, body string) {
		tb.Helper()
		if n++; n%50 == 0 {
			if _, err := env.DB.Exec(context.Background(), `UPDATE users SET failed_logins = 0 WHERE id = $1`, userID); err != nil {
				tb.Fatal(err)
			}
		}
		req := httptest.NewRequest("POST", "/v1/auth/login", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}).String() + ":1234"
		rec := httptest.NewRecorder()
		env.Handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			tb.Fatalf("login: got %d %s, want 401", rec.Code, rec.Body)
		}
	}
	cases := []struct{ name, body string }{
		{"known-email-wrong-password", `{"email": "ada@example.com", "password": "wrong passphrase"}`},
		{"unknown-email", `{"email": "nobody@example.com", "password": "wrong passphrase"}`},
	}
	// Outside the timings: the first unknown-email login also makes the
	// dummy hash it verifies against.
	for _, c := range cases {
		login(b, c.body)
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				login(b, c.body)
			}
		})
	}
}
