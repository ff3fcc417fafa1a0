package main

import (
	"context"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// mailSink is an SMTP server on loopback that keeps every message it is
// given, for the proof to read the verification mail from. (Mailpit, pinned
// as a tool, would do, but building it on a machine whose build cache does
// not have it takes minutes; this is built with rightsize's own SMTP
// library.)
type mailSink struct {
	srv  *smtp.Server
	mu   sync.Mutex
	msgs []sunkMessage
}

type sunkMessage struct {
	to   []string
	text string // the body, transfer encoding undone
}

// startMailSink serves SMTP on ln until close.
func startMailSink(ln net.Listener) *mailSink {
	s := &mailSink{}
	s.srv = smtp.NewServer(s)
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout = 10 * time.Second
	s.srv.WriteTimeout = 10 * time.Second
	s.srv.MaxMessageBytes = 1 << 20
	go s.srv.Serve(ln)
	return s
}

func (s *mailSink) close() { s.srv.Close() }

// NewSession implements smtp.Backend.
func (s *mailSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: s}, nil }

type sinkSession struct {
	sink *mailSink
	to   []string
}

func (ss *sinkSession) Reset()        { ss.to = nil }
func (ss *sinkSession) Logout() error { return nil }
func (ss *sinkSession) Mail(string, *smtp.MailOptions) error {
	return nil
}
func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	var body io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	text, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	ss.sink.mu.Lock()
	ss.sink.msgs = append(ss.sink.msgs, sunkMessage{to: ss.to, text: string(text)})
	ss.sink.mu.Unlock()
	return nil
}

// await waits up to 20 s for a message to addr and returns its text.
func (s *mailSink) await(ctx context.Context, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		s.mu.Lock()
		for _, m := range s.msgs {
			for _, to := range m.to {
				if strings.EqualFold(to, addr) {
					s.mu.Unlock()
					return m.text, nil
				}
			}
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no mail to %s within 20 s (the worker sends it)", addr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
