package testkit

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTP is a real SMTP server running in the test's process. It accepts every
// message (and any AUTH PLAIN credentials) and keeps it for [SMTP.Wait].
type SMTP struct {
	srv    *smtp.Server
	ln     net.Listener
	addr   string
	served chan struct{}
	close  sync.Once

	mu       sync.Mutex
	received []Received
	arrived  chan struct{} // signalled, without blocking, on each message
}

// Received is one message as the server received it.
type Received struct {
	From string   // envelope sender (MAIL FROM)
	To   []string // envelope recipients (RCPT TO)
	User string   // username given to AUTH PLAIN, or "" without AUTH
	Data []byte   // the message exactly as sent: headers, blank line, body

	Header mail.Header // the parsed headers of Data
	// Body is the body of Data, decoded from its Content-Transfer-Encoding
	// (quoted-printable and base64 are understood).
	Body []byte

	parseErr error
}

// SMTPServer starts an SMTP server on 127.0.0.1 on a free port, without TLS,
// and closes it when the test ends.
func SMTPServer(t testing.TB) *SMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testkit: SMTP listen: %v", err)
	}
	s := &SMTP{
		ln:      ln,
		addr:    ln.Addr().String(),
		served:  make(chan struct{}),
		arrived: make(chan struct{}, 1),
	}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &smtpSession{server: s}, nil
	}))
	s.srv.Domain = "localhost"
	// Credentials only ever cross loopback here, and the client under test
	// applies its own rule about sending them in clear.
	s.srv.AllowInsecureAuth = true
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	// Not t.Log: connection goroutines may still log after the test ends.
	s.srv.ErrorLog = log.New(io.Discard, "", 0)

	go func() {
		defer close(s.served)
		s.srv.Serve(ln)
	}()
	t.Cleanup(s.Close)
	return s
}

// Addr returns the server's host:port.
func (s *SMTP) Addr() string { return s.addr }

// URL returns the server's address as an SMTP_URL: "smtp://127.0.0.1:PORT".
func (s *SMTP) URL() string { return "smtp://" + s.addr }

// Close stops the server: it stops listening and drops open connections, so
// later connections are refused. It is safe to call more than once.
func (s *SMTP) Close() {
	s.close.Do(func() {
		s.srv.Close()
		// Server.Close only closes listeners Serve has registered, and
		// Serve may not have started yet.
		s.ln.Close()
		<-s.served
	})
}

// Wait returns the oldest message not yet returned by Wait, waiting up to
// timeout for one to arrive. It fails the test if none arrives in time or if
// the message cannot be parsed.
func (s *SMTP) Wait(t testing.TB, timeout time.Duration) Received {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if len(s.received) > 0 {
			r := s.received[0]
			s.received = s.received[1:]
			s.mu.Unlock()
			if r.parseErr != nil {
				t.Fatalf("testkit: SMTP message from %s: %v\n%s", r.From, r.parseErr, r.Data)
			}
			return r
		}
		s.mu.Unlock()
		select {
		case <-s.arrived:
		case <-timer.C:
			t.Fatalf("testkit: no SMTP message arrived within %v", timeout)
		}
	}
}

func (s *SMTP) deliver(r Received) {
	s.mu.Lock()
	s.received = append(s.received, r)
	s.mu.Unlock()
	select {
	case s.arrived <- struct{}{}:
	default:
	}
}

type smtpSession struct {
	server *SMTP
	user   string
	from   string
	to     []string
}

var _ smtp.AuthSession = (*smtpSession)(nil)

func (ss *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *smtpSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, username, _ string) error {
		ss.user = username
		return nil
	}), nil
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	rec := Received{From: ss.from, To: ss.to, User: ss.user, Data: data}
	rec.Header, rec.Body, rec.parseErr = parseMessage(data)
	ss.server.deliver(rec)
	return nil
}

func (ss *smtpSession) Reset() {
	ss.from = ""
	ss.to = nil
}

func (ss *smtpSession) Logout() error { return nil }

func parseMessage(data []byte) (mail.Header, []byte, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	var body io.Reader = msg.Body
	switch cte := strings.ToLower(msg.Header.Get("Content-Transfer-Encoding")); cte {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "", "7bit", "8bit", "binary":
	default:
		return nil, nil, fmt.Errorf("unknown Content-Transfer-Encoding %q", cte)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, nil, fmt.Errorf("decoding body: %w", err)
	}
	return msg.Header, b, nil
}
