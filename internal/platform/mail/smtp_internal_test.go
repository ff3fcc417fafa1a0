package mail

import (
	"testing"

	"github.com/rightsize/rightsize/internal/platform/resilience"
)

func TestNewSMTPParsesURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url      string
		wantAddr string
		wantTLS  bool
		wantAuth bool
	}{
		{"smtp://mail.example.com", "mail.example.com:587", false, false},
		{"smtp://mail.example.com:2525", "mail.example.com:2525", false, false},
		{"smtps://mail.example.com", "mail.example.com:465", true, false},
		{"smtps://apikey:s%40cret@mail.example.com:4650", "mail.example.com:4650", true, true},
		{"smtp://user@[::1]", "[::1]:587", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			m, err := NewSMTP(tt.url, "app@example.com", resilience.NewBreaker("smtp", resilience.Settings{}, nil))
			if err != nil {
				t.Fatalf("NewSMTP: %v", err)
			}
			s := m.(*smtpMailer)
			if s.addr != tt.wantAddr || s.implicitTLS != tt.wantTLS || (s.auth != nil) != tt.wantAuth {
				t.Errorf("got (addr %q, implicit TLS %v, auth %v), want (%q, %v, %v)",
					s.addr, s.implicitTLS, s.auth != nil, tt.wantAddr, tt.wantTLS, tt.wantAuth)
			}
		})
	}
}
