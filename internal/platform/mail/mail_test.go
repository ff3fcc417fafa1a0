package mail_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/mail"
	"github.com/rightsize/rightsize/internal/platform/resilience"
	"github.com/rightsize/rightsize/internal/platform/testkit"
)

const (
	from = "Rightsize <no-reply@example.com>"
	wait = 5 * time.Second
)

func newSMTPMailer(t testing.TB, url string) mail.Mailer {
	t.Helper()
	m, err := mail.NewSMTP(url, from, resilience.NewBreaker("smtp", resilience.Settings{}, nil))
	if err != nil {
		t.Fatalf("NewSMTP(%q): %v", url, err)
	}
	return m
}

func TestConsoleLogsOneJSONLine(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	m := mail.NewConsole(slog.New(slog.NewJSONHandler(&buf, nil)), from)
	msg := mail.Message{To: "ada@example.com", Subject: "Welcome", Text: "Hello,\nAda"}

	if err := m.Send(t.Context(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}

	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d log lines, want 1:\n%s", len(lines), buf.String())
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatalf("log line is not JSON: %v\n%s", err, lines[0])
	}
	want := map[string]string{
		"level":   "INFO",
		"from":    from,
		"to":      msg.To,
		"subject": msg.Subject,
		"body":    msg.Text,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
}

func TestSMTPDelivers(t *testing.T) {
	t.Parallel()
	srv := testkit.SMTPServer(t)
	m := newSMTPMailer(t, srv.URL())
	msg := mail.Message{
		To:      "Zoë Müller <zoe@example.com>",
		Subject: "Grüße aus Köln — willkommen bei rightsize, wir freuen uns sehr über deine Anmeldung",
		Text: "Hallo Zoë,\n\nline two=with an equals sign\r\n.\n" +
			strings.Repeat("a long line ", 20) + "\n",
	}

	if err := m.Send(t.Context(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.Wait(t, wait)

	if got.From != "no-reply@example.com" {
		t.Errorf("envelope from: got %q, want %q", got.From, "no-reply@example.com")
	}
	if want := []string{"zoe@example.com"}; !slices.Equal(got.To, want) {
		t.Errorf("envelope to: got %q, want %q", got.To, want)
	}

	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(got.Header.Get("Subject"))
	if err != nil || subject != msg.Subject {
		t.Errorf("Subject: got (%q, %v), want %q", subject, err, msg.Subject)
	}
	for _, h := range []struct{ name, want string }{
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Transfer-Encoding", "quoted-printable"},
	} {
		if v := got.Header.Get(h.name); v != h.want {
			t.Errorf("%s: got %q, want %q", h.name, v, h.want)
		}
	}
	if addr, err := got.Header.AddressList("From"); err != nil || len(addr) != 1 || addr[0].Name != "Rightsize" || addr[0].Address != "no-reply@example.com" {
		t.Errorf("From: got %q (%v), want %q", got.Header.Get("From"), err, from)
	}
	if addr, err := got.Header.AddressList("To"); err != nil || len(addr) != 1 || addr[0].Name != "Zoë Müller" || addr[0].Address != "zoe@example.com" {
		t.Errorf("To: got %q (%v), want %q", got.Header.Get("To"), err, msg.To)
	}
	if date, err := got.Header.Date(); err != nil || time.Since(date).Abs() > time.Minute {
		t.Errorf("Date: got %q (%v), want about now", got.Header.Get("Date"), err)
	}
	if id := got.Header.Get("Message-ID"); !regexp.MustCompile(`^<[^<>@\s]+@example\.com>$`).MatchString(id) {
		t.Errorf("Message-ID: got %q, want <unique@example.com>", id)
	}

	wantBody := strings.ReplaceAll(strings.ReplaceAll(msg.Text, "\r\n", "\n"), "\n", "\r\n")
	if string(got.Body) != wantBody {
		t.Errorf("body: got %q, want %q", got.Body, wantBody)
	}
	for i, line := range strings.Split(string(got.Data), "\r\n") {
		if strings.Contains(line, "\n") {
			t.Errorf("line %d: got a bare LF in %q, want CRLF line endings only", i, line)
		}
		if len(line) > 78 {
			t.Errorf("line %d: got %d characters, want at most 78: %q", i, len(line), line)
		}
	}
}

func TestSMTPAuthenticates(t *testing.T) {
	t.Parallel()
	srv := testkit.SMTPServer(t)
	m := newSMTPMailer(t, "smtp://mailer:s3cret@"+srv.Addr())
	if err := m.Send(t.Context(), mail.Message{To: "ada@example.com", Subject: "hi"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := srv.Wait(t, wait).User; got != "mailer" {
		t.Errorf("AUTH user: got %q, want %q", got, "mailer")
	}
}

func TestRejectsInvalidMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  mail.Message
	}{
		{"Bcc smuggled in To", mail.Message{To: "ada@example.com\r\nBcc: eve@example.com", Subject: "hi"}},
		{"LF in To", mail.Message{To: "ada@example.com\nBcc: eve@example.com", Subject: "hi"}},
		{"Bcc smuggled in Subject", mail.Message{To: "ada@example.com", Subject: "hi\r\nBcc: eve@example.com"}},
		{"CR in Subject", mail.Message{To: "ada@example.com", Subject: "hi\rthere"}},
		{"no recipient", mail.Message{Subject: "hi"}},
		{"not an address", mail.Message{To: "ada at example", Subject: "hi"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			t.Run("smtp", func(t *testing.T) {
				t.Parallel()
				srv := testkit.SMTPServer(t)
				m := newSMTPMailer(t, srv.URL())
				if err := m.Send(t.Context(), tt.msg); !errors.Is(err, apperr.ErrInvalid) {
					t.Fatalf("got error %v, want apperr.ErrInvalid", err)
				}
				// Sends are synchronous, so had the bad message gone out
				// it would be ahead of this one.
				ok := mail.Message{To: "ada@example.com", Subject: "the good one"}
				if err := m.Send(t.Context(), ok); err != nil {
					t.Fatalf("Send: %v", err)
				}
				if got := srv.Wait(t, wait).Header.Get("Subject"); got != ok.Subject {
					t.Errorf("first message received: got subject %q, want %q", got, ok.Subject)
				}
			})
			t.Run("console", func(t *testing.T) {
				t.Parallel()
				var buf bytes.Buffer
				m := mail.NewConsole(slog.New(slog.NewJSONHandler(&buf, nil)), from)
				if err := m.Send(t.Context(), tt.msg); !errors.Is(err, apperr.ErrInvalid) {
					t.Fatalf("got error %v, want apperr.ErrInvalid", err)
				}
				if buf.Len() != 0 {
					t.Errorf("got log output %q, want none", buf.String())
				}
			})
		})
	}
}

func TestSMTPBreakerOpensWhenServerIsDown(t *testing.T) {
	t.Parallel()
	srv := testkit.SMTPServer(t)
	reg := prometheus.NewRegistry()
	m, err := mail.New(srv.URL(), from, resilience.Settings{}, slog.New(slog.DiscardHandler), resilience.NewMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	msg := mail.Message{To: "ada@example.com", Subject: "hi"}

	for i := range resilience.DefaultMaxFailures {
		err := m.Send(t.Context(), msg)
		if err == nil || errors.Is(err, resilience.ErrOpen) {
			t.Fatalf("send %d: got error %v, want a connection error", i, err)
		}
	}
	err = m.Send(t.Context(), msg)
	if !errors.Is(err, resilience.ErrOpen) {
		t.Fatalf("send after %d failures: got error %v, want resilience.ErrOpen", resilience.DefaultMaxFailures, err)
	}
	if got := breakerState(t, reg, "smtp"); got != float64(resilience.StateOpen) {
		t.Errorf("circuit_breaker_state{name=smtp}: got %v, want %v", got, float64(resilience.StateOpen))
	}
}

func TestSMTPTimeout(t *testing.T) {
	t.Parallel()
	// A server that accepts connections and never says a word.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var conns []net.Conn
		for {
			conn, err := ln.Accept()
			if err != nil { // the listener was closed: the test is over
				for _, c := range conns {
					c.Close()
				}
				return
			}
			conns = append(conns, conn)
		}
	}()

	b := resilience.NewBreaker("smtp", resilience.Settings{Timeout: 50 * time.Millisecond, MaxFailures: 1}, nil)
	m, err := mail.NewSMTP("smtp://"+ln.Addr().String(), from, b)
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(t.Context(), mail.Message{To: "ada@example.com", Subject: "hi"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got error %v, want context.DeadlineExceeded", err)
	}
	if got := b.State(); got != resilience.StateOpen {
		t.Errorf("a timeout should count as a failure: got state %s, want open", got)
	}
}

func TestNewPicksConsoleWithoutURL(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	m, err := mail.New("", from, resilience.Settings{}, slog.New(slog.NewJSONHandler(&buf, nil)), resilience.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(t.Context(), mail.Message{To: "ada@example.com", Subject: "hi"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"to":"ada@example.com"`) {
		t.Errorf("got log %q, want the message logged", buf.String())
	}
}

func TestNewSMTPRejectsBadURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, url string }{
		{"other scheme", "http://mail.example.com"},
		{"no scheme", "mail.example.com:587"},
		{"no host", "smtp://"},
		{"no host with user", "smtp://user:secret@:587"},
		{"not a URL", "smtp://user:secret@mail.example.com:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := mail.NewSMTP(tt.url, from, resilience.NewBreaker("smtp", resilience.Settings{}, nil))
			if err == nil {
				t.Fatalf("NewSMTP(%q): got no error, want one", tt.url)
			}
			if !strings.Contains(err.Error(), "SMTP_URL") {
				t.Errorf("got error %q, want it to name SMTP_URL", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("got error %q, want the password left out", err)
			}
		})
	}
}

func TestSendWorker(t *testing.T) {
	t.Parallel()
	job := func(m mail.Message) *river.Job[mail.SendArgs] {
		return &river.Job[mail.SendArgs]{JobRow: &rivertype.JobRow{Kind: mail.SendArgs{}.Kind()}, Args: mail.SendArgs{Message: m}}
	}

	t.Run("sends", func(t *testing.T) {
		t.Parallel()
		srv := testkit.SMTPServer(t)
		w := mail.SendWorker{Mailer: newSMTPMailer(t, srv.URL())}
		if err := w.Work(t.Context(), job(mail.Message{To: "ada@example.com", Subject: "hi"})); err != nil {
			t.Fatalf("Work: %v", err)
		}
		if got := srv.Wait(t, wait).To; !slices.Equal(got, []string{"ada@example.com"}) {
			t.Errorf("recipients: got %q, want [ada@example.com]", got)
		}
	})
	t.Run("cancels an invalid message", func(t *testing.T) {
		t.Parallel()
		w := mail.SendWorker{Mailer: mail.NewConsole(slog.New(slog.DiscardHandler), from)}
		err := w.Work(t.Context(), job(mail.Message{To: "ada@example.com\r\nBcc: eve@example.com"}))
		var cancel *river.JobCancelError
		if !errors.As(err, &cancel) || !errors.Is(err, apperr.ErrInvalid) {
			t.Errorf("got error %v, want a river.JobCancel wrapping apperr.ErrInvalid", err)
		}
	})
	t.Run("retries when the server is down", func(t *testing.T) {
		t.Parallel()
		srv := testkit.SMTPServer(t)
		w := mail.SendWorker{Mailer: newSMTPMailer(t, srv.URL())}
		srv.Close()
		err := w.Work(t.Context(), job(mail.Message{To: "ada@example.com"}))
		var cancel *river.JobCancelError
		if err == nil || errors.As(err, &cancel) {
			t.Errorf("got error %v, want a plain error so River retries", err)
		}
	})
}

func TestSendArgsOptions(t *testing.T) {
	t.Parallel()
	if got := (mail.SendArgs{}).Kind(); got != "mail.send" {
		t.Errorf("Kind: got %q, want %q", got, "mail.send")
	}
	if got := (mail.SendArgs{}).InsertOpts().MaxAttempts; got < 2 || got >= 25 {
		t.Errorf("MaxAttempts: got %d, want a few retries but fewer than River's default 25", got)
	}
	if got := (mail.SendWorker{}).Timeout(nil); got <= resilience.DefaultTimeout {
		t.Errorf("Timeout: got %v, want more than the breaker's %v", got, resilience.DefaultTimeout)
	}
}

// breakerState reads circuit_breaker_state{name} from reg as a scrape would.
func breakerState(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != "circuit_breaker_state" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "name" && l.GetValue() == name {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no circuit_breaker_state{name=%q} in registry", name)
	return 0
}
