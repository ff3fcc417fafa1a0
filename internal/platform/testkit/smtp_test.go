package testkit_test

import (
	"net"
	"net/smtp"
	"slices"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/platform/testkit"
)

func TestSMTPServerReceives(t *testing.T) {
	t.Parallel()
	srv := testkit.SMTPServer(t)
	if got, want := srv.URL(), "smtp://"+srv.Addr(); got != want {
		t.Errorf("URL: got %q, want %q", got, want)
	}

	msg := "From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n"
	auth := smtp.PlainAuth("", "user", "secret", "127.0.0.1")
	if err := smtp.SendMail(srv.Addr(), auth, "a@example.com", []string{"b@example.com"}, []byte(msg)); err != nil {
		t.Fatalf("SendMail: %v", err)
	}

	got := srv.Wait(t, 5*time.Second)
	if got.From != "a@example.com" {
		t.Errorf("From: got %q, want %q", got.From, "a@example.com")
	}
	if want := []string{"b@example.com"}; !slices.Equal(got.To, want) {
		t.Errorf("To: got %q, want %q", got.To, want)
	}
	if got.User != "user" {
		t.Errorf("User: got %q, want %q", got.User, "user")
	}
	if s := got.Header.Get("Subject"); s != "hi" {
		t.Errorf("Subject header: got %q, want %q", s, "hi")
	}
	if string(got.Body) != "café\r\n" {
		t.Errorf("Body: got %q, want %q", got.Body, "café\r\n")
	}
	if string(got.Data) != msg {
		t.Errorf("Data: got %q, want %q", got.Data, msg)
	}
}

func TestSMTPServerClose(t *testing.T) {
	t.Parallel()
	srv := testkit.SMTPServer(t)
	srv.Close()
	srv.Close() // again, as t.Cleanup will
	if conn, err := net.Dial("tcp", srv.Addr()); err == nil {
		conn.Close()
		t.Fatal("dial after Close: got a connection, want it refused")
	}
}
