package idempotency_test

import (
	"net/http"
	"strings"
	"testing"
	"unicode"

	"github.com/rightsize/rightsize/internal/platform/idempotency"
)

// Whatever the header holds, a request is refused with a 400 naming
// Idempotency-Key exactly when the key is not 1 to 255 printable ASCII
// characters, and is otherwise served (run or replayed).
func FuzzKey(f *testing.F) {
	for _, k := range []string{"", "k", "key-1", "my key", "a\tb", "\x00", "\x7f", "clé", "\xff", " k", "k\r\n",
		strings.Repeat("k", 255), strings.Repeat("k", 256)} {
		f.Add(k)
	}
	b := setup(f, idempotency.Options{})
	f.Fuzz(func(t *testing.T, key string) {
		res := b.serve(t, call{body: thingInput{Name: "fuzz"}, keys: []string{key}})
		valid := len(key) >= 1 && len(key) <= 255 && !strings.ContainsFunc(key, func(r rune) bool {
			return r > unicode.MaxASCII || !unicode.IsPrint(r) || unicode.IsSpace(r)
		})
		switch {
		case valid && res.status != http.StatusCreated:
			t.Fatalf("key %q: status %d, want 201; body %s", key, res.status, res.body)
		case !valid && res.status != http.StatusBadRequest:
			t.Fatalf("key %q: status %d, want 400; body %s", key, res.status, res.body)
		case !valid:
			if p := res.problem(t); len(p.Errors) != 1 || p.Errors[0].Field != "Idempotency-Key" {
				t.Fatalf("key %q: errors %+v, want one naming Idempotency-Key", key, p.Errors)
			}
		}
	})
}
