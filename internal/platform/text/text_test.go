package text_test

import (
	"strings"
	"testing"

	"github.com/rightsize/rightsize/internal/platform/text"
)

func TestCheckLine(t *testing.T) {
	for _, s := range []string{"Ada", "Ada Lovelace-Byron (née Byron) ✓ 李 Nguyễn", "a" + strings.Repeat("\u0301", 3), strings.Repeat("é", 10)} {
		if msg := text.CheckLine(s, 100); msg != "" {
			t.Errorf("CheckLine(%q) = %q, want accepted", s, msg)
		}
	}
	for s, want := range map[string]string{
		"":                                     "must be 1 to 40 characters",
		strings.Repeat("a", 41):                "must be 1 to 40 characters",
		"Ada\nVisit https://evil.test":         "must be one line of printable characters",
		"Ada\u202egnp.exe":                     "must be one line of printable characters",
		"Ada\x1b[31m":                          "must be one line of printable characters",
		"Ada\x00":                              "must be one line of printable characters",
		"Ada\u200b":                            "must be one line of printable characters",
		"Ada\xff":                              "must be valid UTF-8",
		"Ada\ufffd":                            "must be valid UTF-8",
		"\u3164":                               "must not hold characters that show as blank",
		"\u2800\u2800":                         "must not hold characters that show as blank",
		"   ":                                  "must not hold characters that show as blank",
		"A" + strings.Repeat("\u0301", 4):      "must not stack more than 3 combining marks on a character",
		"A" + strings.Repeat("\u20dd", 4) + "": "must not stack more than 3 combining marks on a character",
	} {
		if got := text.CheckLine(s, 40); got != want {
			t.Errorf("CheckLine(%q) = %q, want %q", s, got, want)
		}
	}
}

func FuzzCheckLine(f *testing.F) {
	for _, s := range []string{"Ada", "Ada\u202e", "\u3164", "a\u0301\u0301\u0301\u0301"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if text.CheckLine(s, 100) != "" {
			return
		}
		// What passes is valid, one line, within bounds and visible.
		if n := len([]rune(s)); n < 1 || n > 100 || strings.ContainsAny(s, "\r\n\x00\x1b\u202e\u200b") || strings.TrimSpace(s) == "" {
			t.Errorf("CheckLine accepted %q", s)
		}
	})
}
