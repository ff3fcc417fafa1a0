package mail

import (
	"errors"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/platform/resilience"
	"github.com/rightsize/rightsize/internal/platform/testkit"
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

// The attack: a network attacker between us and the mail server strips
// STARTTLS from the server's greeting (here, a server that never offers
// it), so that the message, a sign-in link, crosses the network in clear.
// With RequireTLS nothing is sent; without it, or to a loopback relay,
// plain SMTP still works.
func TestRequireTLSRefusesPlainSMTP(t *testing.T) {
	t.Parallel()
	srv := testkit.SMTPServer(t) // offers no STARTTLS
	msg := Message{To: "ada@example.com", Subject: "Verify your email", Text: "https://app.example.com/verify-email?token=secret"}
	send := func(url string, opts ...SMTPOption) error {
		m, err := NewSMTP(url, "app@example.com", resilience.NewBreaker("smtp", resilience.Settings{}, nil), opts...)
		if err != nil {
			t.Fatal(err)
		}
		m.(*smtpMailer).addr = srv.Addr() // the name says remote; the test server answers
		return m.Send(t.Context(), msg)
	}

	err := send("smtp://user:pw@mail.example.com:587", RequireTLS())
	if !errors.Is(err, errNoSTARTTLS) {
		t.Fatalf("remote host without STARTTLS, TLS required: got %v, want errNoSTARTTLS", err)
	}
	if err := send("smtp://mail.example.com:587", RequireTLS()); !errors.Is(err, errNoSTARTTLS) {
		t.Fatalf("remote host without STARTTLS or credentials, TLS required: got %v, want errNoSTARTTLS", err)
	}

	// Not required (development): sent in clear, as before. It is the
	// first message the server has: the refused ones never got there.
	msg.Subject = "sent"
	if err := send("smtp://mail.example.com:587"); err != nil {
		t.Fatalf("TLS not required: %v", err)
	}
	if got := srv.Wait(t, 5*time.Second).Header.Get("Subject"); got != "sent" {
		t.Fatalf("first message received: got subject %q, want the one sent without TLS required", got)
	}
	// A relay on this machine: the message never crosses a network.
	for _, host := range []string{"localhost", "LOCALHOST", "127.0.0.1", "127.0.0.53", "[::1]"} {
		if err := send("smtp://"+host+":25", RequireTLS()); err != nil {
			t.Fatalf("loopback %s, TLS required: %v", host, err)
		}
		srv.Wait(t, 5*time.Second)
	}
}

func TestLoopback(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"localhost": true, "127.0.0.1": true, "127.1.2.3": true, "::1": true, "::ffff:127.0.0.1": true,
		"mail.example.com": false, "localhost.example.com": false, "10.0.0.1": false, "::": false, "0.0.0.0": false, "": false,
	} {
		if got := loopback(host); got != want {
			t.Errorf("loopback(%q): got %v, want %v", host, got, want)
		}
	}
}
