package config_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/rightsize/rightsize/internal/platform/config"
)

// Production must accept every key a generator makes: over many values of
// each form a person is told to use, none may score below the floor
// production applies (64 bits), and the lowest must keep a wide margin.
func TestEntropyBitsOfRandomSecrets(t *testing.T) {
	t.Parallel()
	n := 20000
	if testing.Short() {
		n = 2000
	}
	gens := []struct {
		name  string
		bytes int
		enc   func([]byte) string
		floor float64 // well under the lowest of a million tries, well over 64
	}{
		{"openssl rand -base64 32", 32, base64.StdEncoding.EncodeToString, 150},
		{"openssl rand -base64 48", 48, base64.StdEncoding.EncodeToString, 250},
		{"openssl rand -hex 16", 16, hex.EncodeToString, 70},
		{"openssl rand -hex 32", 32, hex.EncodeToString, 180},
		{"32 random bytes", 32, func(b []byte) string { return string(b) }, 120},
	}
	for _, g := range gens {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			lowest := 1e9
			b := make([]byte, g.bytes)
			for range n {
				rand.Read(b)
				lowest = min(lowest, config.EntropyBits([]byte(g.enc(b))))
			}
			if lowest < g.floor {
				t.Errorf("lowest estimate over %d values: got %.1f bits, want %.0f or more", n, lowest, g.floor)
			}
		})
	}
}

func TestEntropyBitsOfPatterns(t *testing.T) {
	t.Parallel()
	seq := make([]byte, 32)
	for i := range seq {
		seq[i] = byte(i)
	}
	for _, s := range []string{
		"",
		"a",
		strings.Repeat("x", 64),
		strings.Repeat("ab", 32),
		strings.Repeat("xK9#mP2$", 5),
		"abcdefghijklmnopqrstuvwxyz0123456789",
		"0123456789abcdef0123456789abcdef",
		"qwertyuiqwertyuiqwertyuiqwertyuiqwertyuX",
		string(seq),
		string(make([]byte, 32)),
	} {
		if got := config.EntropyBits([]byte(s)); got >= 64 {
			t.Errorf("EntropyBits(%q): got %.1f, want under 64", s, got)
		}
	}
}
