package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/resilience"
)

// NewSMTP returns a Mailer that delivers through the SMTP server at rawURL,
// the value of SMTP_URL:
//
//	smtp://[user:password@]host[:port]   port 587; STARTTLS when the server offers it
//	smtps://[user:password@]host[:port]  port 465; TLS from the first byte
//
// With a user, it authenticates with AUTH PLAIN, and refuses to send the
// password unless the connection is encrypted or the host is localhost.
// With [RequireTLS], it sends nothing at all over an unencrypted connection
// to a host other than localhost or a loopback address.
// from is the sender, as "app@example.com" or "App <app@example.com>".
//
// Each Send opens one connection and runs under b: b's timeout bounds the
// whole SMTP conversation and Send fails fast while b is open. A recipient
// the server rejects permanently (5xx to RCPT) is reported as apperr.ErrInvalid
// and does not count against b.
//
// NewSMTP returns an error naming SMTP_URL if rawURL is not of that form.
func NewSMTP(rawURL, from string, b *resilience.Breaker, opts ...SMTPOption) (Mailer, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// Not err itself: url.Error repeats the URL, password included.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("SMTP_URL: not a URL: %v", err)
	}
	s := &smtpMailer{breaker: b}
	port := "587"
	switch u.Scheme {
	case "smtp":
	case "smtps":
		s.implicitTLS = true
		port = "465"
	default:
		return nil, fmt.Errorf("SMTP_URL: scheme %q is not supported, want smtp:// or smtps://", u.Scheme)
	}
	s.host = u.Hostname()
	if s.host == "" {
		return nil, fmt.Errorf("SMTP_URL: %s has no host", u.Redacted())
	}
	if p := u.Port(); p != "" {
		port = p
	}
	s.addr = net.JoinHostPort(s.host, port)
	if user := u.User.Username(); user != "" {
		password, _ := u.User.Password()
		s.auth = smtp.PlainAuth("", user, password, s.host)
	}
	if s.from, err = mail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("mail: sender %q: %w", from, err)
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// SMTPOption configures the mailer [NewSMTP] returns.
type SMTPOption func(*smtpMailer)

// RequireTLS makes an smtp:// mailer require STARTTLS of any server other
// than localhost or a loopback address: without it, one that does not offer
// STARTTLS, or a network attacker who strips the offer from the server's
// greeting, would receive the message (sign-in links) in clear. A server
// that does not offer it fails each Send, with an error saying so. smtps://
// is encrypted from the first byte either way. Production uses it.
func RequireTLS() SMTPOption {
	return func(s *smtpMailer) { s.requireTLS = !loopback(s.host) }
}

// loopback reports whether host names this machine: "localhost" or a
// loopback address, not resolved, so that DNS cannot make a remote host look
// local. The traffic to it never leaves the machine.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// smtpMailer uses net/smtp rather than go-smtp's client because net/smtp
// never touches the connection's deadline, so the one deadline taken from the
// context bounds the whole conversation (go-smtp resets it on every command),
// and its PlainAuth already refuses to send a password in clear to anything
// but localhost.
type smtpMailer struct {
	addr        string // host:port
	host        string // for TLS verification and PlainAuth's localhost rule
	implicitTLS bool
	requireTLS  bool      // STARTTLS or nothing, see RequireTLS
	auth        smtp.Auth // nil without credentials
	from        *mail.Address
	breaker     *resilience.Breaker
}

func (s *smtpMailer) Send(ctx context.Context, m Message) error {
	to, err := m.recipient()
	if err != nil {
		return err
	}
	msg := m.format(s.from, to, time.Now())
	return s.breaker.Do(ctx, func(ctx context.Context) error {
		err := s.deliver(ctx, to.Address, msg)
		if err != nil && (ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded)) {
			// The connection reports only "i/o timeout", possibly a moment
			// before the context notices its own deadline; say which.
			cause := ctx.Err()
			if cause == nil {
				cause = context.DeadlineExceeded
			}
			return fmt.Errorf("smtp %s: %w (%v)", s.addr, cause, err)
		}
		return err
	})
}

func (s *smtpMailer) deliver(ctx context.Context, to string, msg []byte) error {
	conn, err := s.dial(ctx)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", s.addr, err)
	}
	defer conn.Close()
	// net/smtp knows nothing of contexts: the deadline bounds every read and
	// write, and cancellation moves it into the past to unblock them.
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return fmt.Errorf("smtp %s: greeting: %w", s.addr, err)
	}
	if !s.implicitTLS {
		ok, _ := c.Extension("STARTTLS")
		switch {
		case ok:
			if err := c.StartTLS(s.tlsConfig()); err != nil {
				return fmt.Errorf("smtp %s: STARTTLS: %w", s.addr, err)
			}
		case s.requireTLS:
			return fmt.Errorf("smtp %s: %w", s.addr, errNoSTARTTLS)
		}
	}
	if s.auth != nil {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("smtp %s: credentials configured but the server offers no AUTH", s.addr)
		}
		if err := c.Auth(s.auth); err != nil {
			return fmt.Errorf("smtp %s: AUTH: %w", s.addr, err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("smtp %s: MAIL FROM: %w", s.addr, err)
	}
	if err := c.Rcpt(to); err != nil {
		if recipientRejected(err) {
			return fmt.Errorf("smtp %s: recipient %s rejected: %w: %w", s.addr, to, err, apperr.ErrInvalid)
		}
		return fmt.Errorf("smtp %s: RCPT TO: %w", s.addr, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp %s: DATA: %w", s.addr, err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("smtp %s: writing message: %w", s.addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp %s: message not accepted: %w", s.addr, err)
	}
	// The message is accepted once DATA is answered; a failed QUIT cannot
	// un-send it, and reporting it would make a retry send it twice.
	c.Quit()
	return nil
}

func (s *smtpMailer) dial(ctx context.Context) (net.Conn, error) {
	if s.implicitTLS {
		d := &tls.Dialer{Config: s.tlsConfig()}
		return d.DialContext(ctx, "tcp", s.addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", s.addr)
}

func (s *smtpMailer) tlsConfig() *tls.Config {
	return &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
}

// errNoSTARTTLS is the failure of a mailer that requires TLS (see
// [RequireTLS]) when the server does not offer it.
var errNoSTARTTLS = errors.New("the server does not offer STARTTLS, and TLS is required (use smtps://, a server that offers STARTTLS, or a relay on localhost)")

// recipientRejected reports whether err is a permanent refusal of the
// recipient itself (no such mailbox, bad address), which no retry can fix.
func recipientRejected(err error) bool {
	var terr *textproto.Error
	if !errors.As(err, &terr) {
		return false
	}
	switch terr.Code {
	case 501, 550, 551, 553:
		return true
	}
	return false
}
