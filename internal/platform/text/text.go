// Package text checks the short free-text fields that clients send (a
// person's name, an item's name): what is shown back to people, in mail and
// in UIs, must read as what it is.
package text

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CheckLine returns why s is not one line of 1 to maxRunes printable
// characters that shows as something, or "" if it is. It refuses invalid
// UTF-8 and U+FFFD (what encoding/json turns invalid bytes into), control
// and format characters (newlines, escape, NUL, bidi overrides, zero-width
// spaces), characters that render as nothing (Hangul fillers, the Braille
// blank), a value of spaces only, and more than 3 combining marks stacked on
// one character. Callers trim s first if surrounding spaces do not matter.
func CheckLine(s string, maxRunes int) string {
	n := utf8.RuneCountInString(s)
	switch {
	case !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError):
		return "must be valid UTF-8"
	case n < 1 || n > maxRunes:
		return fmt.Sprintf("must be 1 to %d characters", maxRunes)
	case strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) >= 0:
		return "must be one line of printable characters"
	case strings.IndexFunc(s, blank) >= 0 || strings.TrimSpace(s) == "":
		return "must not hold characters that show as blank"
	case maxCombining(s) > 3:
		return "must not stack more than 3 combining marks on a character"
	}
	return ""
}

// blank reports runes that unicode.IsPrint accepts but that render as
// nothing, so a value made of them looks empty.
func blank(r rune) bool {
	switch r {
	case '\u115f', '\u1160', '\u3164', '\uffa0', // Hangul fillers (letters)
		'\u2800': // Braille pattern blank (a symbol)
		return true
	}
	return false
}

// maxCombining is the longest run of combining marks in s: one or two
// accents are real writing, a stack of them is "Zalgo" text that spills over
// the lines around it.
func maxCombining(s string) int {
	most, run := 0, 0
	for _, r := range s {
		if unicode.In(r, unicode.Mn, unicode.Me) {
			run++
			most = max(most, run)
		} else {
			run = 0
		}
	}
	return most
}
