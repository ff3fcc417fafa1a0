package authn

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzBearer feeds arbitrary Authorization headers to the parser: it never
// panics, and a credential it returns is non-empty, trimmed, and found in
// the header after a Bearer scheme.
func FuzzBearer(f *testing.F) {
	for _, s := range []string{"", "Bearer abc", "bearer  rsk_x ", "Basic dXNlcjpwdw==", "Bearer", "Bearer \t", "BEARER a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		h := http.Header{}
		h.Set("Authorization", header)
		cred, err := bearer(h)
		if err != nil {
			return
		}
		if cred == "" || cred != strings.TrimSpace(cred) || !strings.Contains(header, cred) {
			t.Fatalf("bearer(%q) = %q", header, cred)
		}
		scheme, _, _ := strings.Cut(strings.TrimSpace(h.Get("Authorization")), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			t.Fatalf("bearer(%q) accepted scheme %q", header, scheme)
		}
	})
}
