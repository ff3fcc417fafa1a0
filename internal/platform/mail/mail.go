// Package mail sends email. Mail is only ever sent from jobs: a service
// inserts [SendArgs] in the transaction that wrote the row the message is
// about, and [SendWorker] delivers it, so a rolled-back write sends nothing and
// a mail server outage delays messages instead of failing requests.
//
// Without SMTP_URL, messages are printed as JSON log lines ([NewConsole]);
// with it, they are delivered over SMTP through a circuit breaker ([NewSMTP]).
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/resilience"
)

// Message is one plain-text email to one recipient.
type Message struct {
	// To is the recipient, as "user@example.com" or "Name <user@example.com>".
	To      string `json:"to"`
	Subject string `json:"subject"`
	// Text is the body. Any line ending style is accepted.
	Text string `json:"text"`
}

// Mailer sends messages.
type Mailer interface {
	// Send delivers m, or returns why not. An m that can never be sent
	// returns an error wrapping apperr.ErrInvalid: no valid recipient or a
	// line break in To or Subject (found before contacting any server), or a
	// recipient the server refuses permanently. Any other error may succeed
	// on retry.
	Send(ctx context.Context, m Message) error
}

// New returns the mailer the configuration asks for: the console mailer when
// smtpURL is empty, otherwise an SMTP mailer behind a breaker named "smtp"
// with settings s, registered in m, configured by opts (see [NewSMTP] for the
// URL's form). Call it once per resilience.Metrics, which allows one breaker
// per name.
func New(smtpURL, from string, s resilience.Settings, logger *slog.Logger, m *resilience.Metrics, opts ...SMTPOption) (Mailer, error) {
	if smtpURL == "" {
		return NewConsole(logger, from), nil
	}
	return NewSMTP(smtpURL, from, resilience.NewBreaker("smtp", s, m), opts...)
}

// NewConsole returns a Mailer that sends nothing: it logs each message on one
// INFO line with the attributes from, to, subject and body. It is the default
// in development, where the message (a sign-in link, say) must be readable
// without a mail server. It rejects the messages an SMTP mailer would.
func NewConsole(logger *slog.Logger, from string) Mailer {
	return &console{logger: logger, from: from}
}

type console struct {
	logger *slog.Logger
	from   string
}

func (c *console) Send(ctx context.Context, m Message) error {
	if _, err := m.recipient(); err != nil {
		return err
	}
	c.logger.InfoContext(ctx, "email not sent: console mailer",
		slog.String("from", c.from),
		slog.String("to", m.To),
		slog.String("subject", m.Subject),
		slog.String("body", m.Text),
	)
	return nil
}

// recipient validates m and returns its parsed recipient. Line breaks are
// checked before anything else because they are how one header smuggles in
// another (a Bcc, say).
func (m Message) recipient() (*mail.Address, error) {
	var v apperr.Validation
	var to *mail.Address
	switch {
	case strings.TrimSpace(m.To) == "":
		v.Add("to", "is required")
	case strings.ContainsAny(m.To, "\r\n"):
		v.Add("to", "must not contain line breaks")
	default:
		addr, err := mail.ParseAddress(m.To)
		if err != nil {
			v.Add("to", "is not an email address")
		}
		to = addr
	}
	v.Check(!strings.ContainsAny(m.Subject, "\r\n"), "subject", "must not contain line breaks")
	if err := v.Err(); err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	return to, nil
}

// format renders m as an RFC 5322 message with CRLF line endings. to must be
// m's validated recipient.
func (m Message) format(from, to *mail.Address, now time.Time) []byte {
	var b bytes.Buffer
	header := func(name, value string) { writeHeader(&b, name, value) }
	header("Date", now.Format(time.RFC1123Z))
	header("From", from.String())
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Message-ID", messageID(from))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	// Quoted-printable keeps the body 7-bit with short lines whatever the
	// text holds, so no relay needs to re-encode or wrap it.
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	// Writes to a bytes.Buffer cannot fail.
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(m.Text))
	qp.Close()
	return b.Bytes()
}

// writeHeader writes one header field, folded at spaces to keep lines within
// the 78 characters RFC 5322 asks for. Folding is undone by the reader, and
// a space between encoded-words is ignored, so folding never changes the value.
func writeHeader(b *bytes.Buffer, name, value string) {
	const maxLine = 78
	b.WriteString(name + ":")
	n := len(name) + 1
	for _, word := range strings.Split(value, " ") {
		// Never before an empty word: a line of only spaces is not allowed.
		if word != "" && n+1+len(word) > maxLine {
			b.WriteString("\r\n")
			n = 0
		}
		b.WriteString(" " + word)
		n += 1 + len(word)
	}
	b.WriteString("\r\n")
}

// messageID is unique per message and names the sender's domain, as
// RFC 5322 recommends; spam filters look askance at a missing Message-ID.
func messageID(from *mail.Address) string {
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	return "<" + rand.Text() + "@" + domain + ">"
}
