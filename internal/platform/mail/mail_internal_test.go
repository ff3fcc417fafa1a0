package mail

import (
	"bytes"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"time"
)

func TestFormatFoldsHeadersWithoutChangingThem(t *testing.T) {
	t.Parallel()
	from := &mail.Address{Name: "Rightsize", Address: "no-reply@example.com"}
	to := &mail.Address{Name: "A Very Long Display Name Indeed, Of Someone With Many Names", Address: "someone@example.com"}
	subjects := []string{
		"",
		"short",
		"  leading, double  and trailing spaces  ",
		strings.Repeat("ascii words that go on ", 8),
		strings.Repeat("Grüße aus Köln ", 10) + "Ende",
		strings.Repeat("x", 100), // one word too long to fold: kept whole
	}
	for _, subject := range subjects {
		t.Run(subject, func(t *testing.T) {
			t.Parallel()
			data := Message{Subject: subject, Text: "body"}.format(from, to, time.Now())
			msg, err := mail.ReadMessage(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("ReadMessage: %v\n%s", err, data)
			}
			var dec mime.WordDecoder
			got, err := dec.DecodeHeader(msg.Header.Get("Subject"))
			if err != nil {
				t.Fatal(err)
			}
			// net/mail trims the value's outer spaces.
			if want := strings.TrimSpace(subject); got != want {
				t.Errorf("subject: got %q, want %q", got, want)
			}
			if got, err := msg.Header.AddressList("To"); err != nil || *got[0] != *to {
				t.Errorf("To: got %v (%v), want %v", got, err, to)
			}
			for _, line := range strings.Split(string(data), "\r\n") {
				if len(line) > 78 && !strings.Contains(subject, strings.TrimSpace(strings.TrimPrefix(line, "Subject:"))) {
					t.Errorf("got a %d-character line %q, want at most 78", len(line), line)
				}
				if strings.TrimSpace(line) == "" && line != "" {
					t.Errorf("got a line of only spaces in\n%s", data)
				}
			}
		})
	}
}
