package auth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"testing"

	"github.com/rightsize/rightsize/internal/app/apptest"
	"github.com/rightsize/rightsize/internal/auth"
	"github.com/rightsize/rightsize/internal/platform/text"
)

// FuzzSignup sends arbitrary bodies to POST /v1/auth/signup, behind the
// whole chain. It must never panic nor blame the server; a 400 that names
// fields names exactly the ones the rules refuse; and it may accept a body
// only if it stores a plain, lower-case address that logging in with the
// same input finds again.
func FuzzSignup(f *testing.F) {
	for _, body := range []string{
		`{"email": "ada@example.com", "password": "a long enough passphrase", "name": "Ada"}`,
		`{"email": "  ADA@Example.COM ", "password": "a long enough passphrase", "name": " Ada "}`,
		`{"EMAIL": "ada@example.com", "Password": "a long enough passphrase", "name": "Ada", "email": "eve@example.com"}`,
		`{"email": "Ada <ada@example.com>", "password": "a long enough passphrase", "name": "Ada"}`,
		`{"email": "\"ada\"@example.com", "password": "a long enough passphrase", "name": "Ada"}`,
		`{"email": "ada@example.com (Ada)", "password": "a long enough passphrase", "name": "Ada"}`,
		`{"email": "ädä@exämple.com", "password": "a long enough passphrase", "name": "Ädä"}`,
		`{"email": "ada@[127.0.0.1]", "password": "a long enough passphrase", "name": "Ada"}`,
		`{"email": "ada@localhost", "password": "a long enough passphrase", "name": "Ada"}`,
		`{"email": "ada\u200b@example.com", "password": "a long enough passphrase", "name": "Ada\u202eevil"}`,
		`{"email": "ada@example.com", "password": "a long enough passphrase", "name": "Ada\nVisit http://evil.test\u0000\u001b[31m"}`,
		`{"email": "ada@example.com", "password": "ada@example.com", "name": "Ada"}`,
		`{"email": "ada@example.com", "password": "password1234", "name": "Ada"}`,
		`{"email": "ada@", "password": "short", "name": ""}`,
		`{"email": 1, "password": null, "name": ["x"]}`,
		`{"email": "ada@example.com", "extra": true}`,
		`{"email": "ada@example.com"} {}`,
		`{}`, `null`, `[]`, `""`, ``, `{`,
		"{\"name\":\"\xd7\"}", // invalid UTF-8: decoded as U+FFFD, which no name holds
	} {
		f.Add(body)
	}
	// No worker: accepted signups queue mail that nobody needs to send.
	// Limits and logs sized for a fuzzer's request rate.
	b := setup(f, map[string]string{
		"WORKER":             "false",
		"LOG_LEVEL":          "error",
		"RATE_LIMIT_AUTH":    "1000000/s",
		"RATE_LIMIT_ACCOUNT": "1000000/s",
	})
	// Fuzzed bodies are often not JSON the document's schema and Go's
	// decoder read alike (invalid UTF-8, for one, which encoding/json turns
	// into U+FFFD): only the answers are checked against the document.
	b.SkipRequestChecks()
	f.Fuzz(func(t *testing.T, body string) {
		r := b.Call(t, "POST", "/v1/auth/signup", "", body)
		if r.Status >= 500 || (r.Status != http.StatusAccepted && r.Status < 400) {
			t.Fatalf("signup(%q): got %d %v, want 202 or a 4xx", body, r.Status, r.Body)
		}

		var raw struct {
			Email    string `json:"email"`
			Password string `json:"password"`
			Name     string `json:"name"`
		}
		decodes := json.Unmarshal([]byte(body), &raw) == nil
		email := strings.ToLower(strings.TrimSpace(raw.Email))
		name := strings.TrimSpace(raw.Name)
		refused := map[string]bool{
			"email":    !plainAddress(email),
			"password": auth.CheckPassword(raw.Password, email) != nil,
			"name":     !plainName(name),
		}

		if fields := apptest.ErrorFields(r.Body); len(fields) > 0 {
			if r.Status != http.StatusBadRequest || !decodes {
				t.Fatalf("signup(%q): got %d naming %q, want a 400 only for a body that decodes", body, r.Status, fields)
			}
			for _, field := range []string{"email", "password", "name"} {
				if named := slices.Contains(fields, field); named != refused[field] {
					t.Fatalf("signup(%q): %q named %v, want %v (fields %q)", body, field, named, refused[field], fields)
				}
			}
			return
		}
		if r.Status != http.StatusAccepted {
			return // a body that does not decode: 4xx without fields
		}

		// Accepted: what decoded must pass every rule, and be stored trimmed
		// and lower-cased.
		if !decodes || refused["email"] || refused["password"] || refused["name"] {
			t.Fatalf("signup(%q) accepted: decodes %v, refused %v", body, decodes, refused)
		}
		ctx := context.Background()
		var stored, storedName string
		if err := b.DB.QueryRow(ctx, `SELECT email, name FROM users WHERE email = $1`, email).Scan(&stored, &storedName); err != nil {
			t.Fatalf("signup(%q) accepted, but no account %q: %v", body, email, err)
		}
		if storedName != name {
			t.Fatalf("stored name: got %q, want %q", storedName, name)
		}
		local, domain, ok := strings.Cut(stored, "@")
		if !ok || local == "" || domain == "" || strings.Contains(domain, "@") || len(stored) > 254 {
			t.Fatalf("stored email %q: want local@domain, at most 254 bytes", stored)
		}
		for _, c := range stored {
			if c <= ' ' || c == 0x7f || 'A' <= c && c <= 'Z' {
				t.Fatalf("stored email %q holds %q", stored, c)
			}
		}
		// Login finds it from what signup was given: right password,
		// address not verified yet.
		login := b.Call(t, "POST", "/v1/auth/login", "", map[string]string{"email": raw.Email, "password": raw.Password})
		if login.Status != http.StatusForbidden {
			t.Fatalf("login with signup's input %q: got %d %v, want 403 (unverified)", body, login.Status, login.Body)
		}
		// Each input on its own: a later one with this address signs up anew.
		if _, err := b.DB.Exec(ctx, `DELETE FROM users WHERE email = $1`, email); err != nil {
			t.Fatal(err)
		}
	})
}

// plainAddress is the rule for a stored address: a bare address, no
// display name, of at most 254 bytes, printable ASCII, whose domain is a
// name of two labels or more (no [literal], no single label).
func plainAddress(email string) bool {
	a, err := mail.ParseAddress(email)
	if email == "" || len(email) > 254 || err != nil || a.Address != email || a.Name != "" {
		return false
	}
	for _, c := range []byte(email) {
		if c < '!' || c > '~' {
			return false
		}
	}
	domain := email[strings.LastIndexByte(email, '@')+1:]
	labels := strings.Split(domain, ".")
	if len(labels) < 2 || strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") ||
			strings.Trim(l, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return false
		}
	}
	return true
}

// plainName is the rule for a name: valid UTF-8, 1 to 100 characters, each
// printable or a space: one line, nothing invisible.
func plainName(name string) bool {
	return text.CheckLine(name, 100) == "" // the rule itself is tested in package text
}
