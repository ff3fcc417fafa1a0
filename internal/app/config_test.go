package app

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/rightsize/rightsize/internal/platform/authn"
)

// productionEnv passes every production check, with key as AUTH_SIGNING_KEY.
func productionEnv(key string) func(string) string {
	env := map[string]string{
		"ENV":              "production",
		"CURSOR_SECRET":    "k3J9vQ2xLr8TzW5mN7pB4sYcF6hD1gAe",
		"PUBLIC_URL":       "https://app.example.com",
		"SMTP_URL":         "smtps://mailer:pw@smtp.example.com",
		"AUTH_SIGNING_KEY": key,
	}
	return func(k string) string { return env[k] }
}

// The attack: a signing seed someone typed or counted out can be guessed,
// and whoever guesses it mints access tokens for any user. Production
// refuses such seeds, each one of a rotation list, and names the key.
func TestProductionRefusesWeakSigningKeys(t *testing.T) {
	t.Parallel()
	good, err := authn.GenerateSeed()
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	counting := make([]byte, 32)
	for i := range counting {
		counting[i] = byte(i + 1)
	}
	half := make([]byte, 16)
	rand.Read(half)
	tests := []struct {
		name, key string
		bad       int // the key named in the error; 0 for none
	}{
		{"generated", good, 0},
		{"zeros", b64(make([]byte, 32)), 1},
		{"counting", b64(counting), 1}, // "AQIDBAUG…", as in an example
		{"text", b64([]byte("our-very-own-token-signing-key!!")), 1},
		{"random-looking text", b64([]byte("k3J9vQ2xLr8TzW5mN7pB4sYcF6hD1gAe")), 1},
		{"one random half twice", b64(append(half, half...)), 1},
		{"weak key to verify only", good + "," + b64(make([]byte, 32)), 2},
		{"url alphabet, unpadded", strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(b64(counting)), "="), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(productionEnv(tt.key), catalog)
			if tt.bad == 0 {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got no error, want AUTH_SIGNING_KEY refused")
			}
			msg := err.Error()
			if !strings.Contains(msg, "AUTH_SIGNING_KEY: invalid value (redacted)") || !strings.Contains(msg, fmt.Sprintf("key %d repeats", tt.bad)) {
				t.Errorf("got %q, want AUTH_SIGNING_KEY refused naming key %d", msg, tt.bad)
			}
			if strings.Contains(msg, tt.key) {
				t.Errorf("the error shows the key: %q", msg)
			}
			// Development takes any well-formed key.
			dev := productionEnv(tt.key)
			if _, err := load(func(k string) string {
				if k == "ENV" {
					return ""
				}
				return dev(k)
			}, catalog); err != nil {
				t.Errorf("development: got %v, want the key accepted", err)
			}
		})
	}
}

// Production must accept every seed a generator makes.
func TestGeneratedSeedsAreNeverWeak(t *testing.T) {
	t.Parallel()
	seed := make([]byte, 32)
	for range 100_000 {
		rand.Read(seed)
		if weakSeed(seed) {
			t.Fatalf("weakSeed(%x) = true, want false for random bytes", seed)
		}
	}
}
