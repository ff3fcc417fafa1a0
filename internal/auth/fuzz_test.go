package auth

import (
	"encoding/json"
	"net/http/httptest"
	"net/mail"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/httpx"
)

// FuzzSignupRequest feeds arbitrary bodies to the signup handler's decode
// and validate step, which is all it does with a body before the database.
// It must never panic nor blame the server, and it may accept a body only
// if its email normalizes to a plain, lower-case address that logging in
// with the same input finds again.
func FuzzSignupRequest(f *testing.F) {
	for _, body := range []string{
		`{"email": "ada@example.com", "password": "a long enough passphrase", "name": "Ada"}`,
		`{"email": "  ADA@Example.COM ", "password": "a long enough passphrase", "name": " Ada "}`,
		`{"EMAIL": "ada@example.com", "Password": "a long enough passphrase", "name": "Ada", "email": "eve@example.com"}`,
		`{"email": "Ada <ada@example.com>", "password": "a long enough passphrase", "name": "Ada"}`,
		`{"email": "\"ada\"@example.com", "password": "a long enough passphrase", "name": "Ada"}`,
		`{"email": "ada@example.com (Ada)", "password": "a long enough passphrase", "name": "Ada"}`,
		`{"email": "ädä@exämple.com", "password": "a long enough passphrase", "name": "Ädä"}`,
		`{"email": "ada@[127.0.0.1]", "password": "a long enough passphrase", "name": "Ada"}`,
		`{"email": "ada@example.com", "password": "ada@example.com", "name": "Ada"}`,
		`{"email": "ada@example.com", "password": "password1234", "name": "Ada"}`,
		`{"email": "ada@", "password": "short", "name": ""}`,
		`{"email": 1, "password": null, "name": ["x"]}`,
		`{"email": "ada@example.com", "extra": true}`,
		`{"email": "ada@example.com"} {}`,
		`{}`, `null`, `[]`, `""`, ``, `{`,
	} {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/v1/auth/signup", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		in, err := httpx.Decode[signupRequest](r)
		if err != nil {
			if status := httpx.StatusOf(err); status < 400 || status >= 500 {
				t.Fatalf("Decode(%q): got status %d (%v), want a 4xx", body, status, err)
			}
			return
		}

		// Accepted: the address must be what the client sent, trimmed
		// and lower-cased, and a plain address.
		var raw struct {
			Email    string `json:"email"`
			Password string `json:"password"`
		}
		if err := json.Unmarshal([]byte(body), &raw); err != nil {
			t.Fatalf("Decode accepted %q, which encoding/json refuses: %v", body, err)
		}
		if want := strings.ToLower(strings.TrimSpace(raw.Email)); in.Email != want {
			t.Fatalf("email: got %q, want %q", in.Email, want)
		}
		if a, err := mail.ParseAddress(in.Email); err != nil || a.Address != in.Email || a.Name != "" {
			t.Fatalf("accepted email %q is not a bare address: %v %v", in.Email, a, err)
		}
		local, domain, ok := strings.Cut(in.Email, "@")
		if !ok || local == "" || domain == "" || strings.Contains(domain, "@") || len(in.Email) > 254 {
			t.Fatalf("accepted email %q: want local@domain, at most 254 bytes", in.Email)
		}
		for _, c := range in.Email {
			if c <= ' ' || c == 0x7f || 'A' <= c && c <= 'Z' {
				t.Fatalf("accepted email %q holds %q", in.Email, c)
			}
		}
		// The stored form normalizes to itself, and login finds it from
		// what signup was given, so the owner can log in.
		var v apperr.Validation
		if again := normalizeEmail(&v, "email", in.Email); again != in.Email || v.Err() != nil {
			t.Fatalf("stored email %q normalizes again to %q (%v)", in.Email, again, v.Err())
		}
		login := loginRequest{Email: raw.Email, Password: raw.Password}
		if err := login.Validate(); err != nil || login.Email != in.Email {
			t.Fatalf("login with signup's input: got email %q, error %v; want %q accepted", login.Email, err, in.Email)
		}
		if n := utf8.RuneCountInString(in.Name); n < 1 || n > 100 || in.Name != strings.TrimSpace(in.Name) {
			t.Fatalf("accepted name %q: want 1 to 100 characters, trimmed", in.Name)
		}
		if err := CheckPassword(in.Password, in.Email); err != nil {
			t.Fatalf("accepted password %q: %v", in.Password, err)
		}
	})
}
