package resilience

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// NewHTTPClient returns an HTTP client whose every request goes through b.
//
// Each request, including each hop of a redirect, is bounded by b's timeout
// from dialling until its response body is closed, so callers must close the
// body (as always). A transport error or a 5xx response counts as a failure of
// the dependency; any other response counts as a success. A 5xx response is
// still returned to the caller as a response, not as an error, as
// net/http does. While b is open, requests fail without leaving the process,
// with an error wrapping ErrOpen and apperr.ErrUnavailable.
func NewHTTPClient(b *Breaker) *http.Client {
	// No Client.Timeout: it would cancel the request's own context, which
	// the breaker treats as the caller giving up and does not count, so a
	// hanging dependency would never open the breaker.
	return &http.Client{Transport: &breakerTransport{b: b, base: newTransport(b.timeout)}}
}

func newTransport(timeout time.Duration) *http.Transport {
	// The deadline set in RoundTrip bounds each request, but net/http
	// detaches dials from the request's context (so a pooled connection can
	// still be used by a later request): only these limits stop a dial or
	// TLS handshake to a blackholed host from hanging on in the background.
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: timeout,
		// No ResponseHeaderTimeout: the request's deadline already covers
		// the wait for headers, and a second timer racing it would report
		// the same timeout as a different error.
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          100,
		// The default of 2 makes a busy client to a single API host (Stripe)
		// churn through TLS handshakes.
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
	}
}

type breakerTransport struct {
	b    *Breaker
	base http.RoundTripper
}

func (t *breakerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	done, err := t.b.allow(req.Context())
	if err != nil {
		return nil, err
	}
	// The deadline must outlive RoundTrip, since the caller reads the body
	// afterwards; it is released when the body is closed.
	ctx, cancel := context.WithTimeout(req.Context(), t.b.timeout)
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		done(err)
		return nil, err
	}
	if resp.StatusCode >= 500 {
		done(fmt.Errorf("%s: HTTP %d", t.b.name, resp.StatusCode))
	} else {
		done(nil)
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
