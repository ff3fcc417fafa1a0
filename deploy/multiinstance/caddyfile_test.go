package main

import (
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rightsize/rightsize/internal/app"
)

// TestCaddyfileBodyLimit checks the Caddyfile's @tooLarge matcher, a regular
// expression over Content-Length (Caddy matches it with Go's regexp), against
// rightsize's MAX_BODY_BYTES default: it must match every length above the
// limit and none at or below it, or Caddy would pass bodies rightsize
// refuses, or refuse bodies it takes.
func TestCaddyfileBodyLimit(t *testing.T) {
	b, err := os.ReadFile("../caddy/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "@tooLarge header_regexp Content-Length "
	var expr string
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
			expr = rest
		}
	}
	if expr == "" {
		t.Fatalf("no %q line in the Caddyfile", prefix)
	}
	re := regexp.MustCompile(expr)

	var limit int64
	for _, v := range app.Vars() {
		if v.Name == "MAX_BODY_BYTES" {
			limit, err = strconv.ParseInt(v.Default, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if limit == 0 {
		t.Fatal("no MAX_BODY_BYTES default in app.Vars()")
	}

	check := func(s string, n int64) {
		t.Helper()
		if got, want := re.MatchString(s), n > limit; got != want {
			t.Errorf("Content-Length %s: refused by Caddy %t, want %t (MAX_BODY_BYTES %d)", s, got, want, limit)
		}
	}
	// Every length within 100 000 of the limit, and below 10 000.
	for n := limit - 100_000; n <= limit+100_000; n++ {
		check(strconv.FormatInt(n, 10), n)
	}
	for n := range int64(10_000) {
		check(strconv.FormatInt(n, 10), n)
	}
	// Lengths of every size, and leading zeros.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		n := rng.Int64N(int64(1) << rng.IntN(40))
		check(strconv.FormatInt(n, 10), n)
		check("00"+strconv.FormatInt(n, 10), n)
	}
	for _, s := range []string{"", "-1", "1e9", " 2000000", "2000000 ", "abc"} {
		if re.MatchString(s) {
			t.Errorf("Content-Length %q: refused by Caddy, want it left to rightsize", s)
		}
	}
}
