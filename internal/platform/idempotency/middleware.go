package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/httpx"
)

// header is the request header that carries the key.
const header = "Idempotency-Key"

// replayedHeader is set to "true" on a response replayed from a key.
const replayedHeader = "Idempotent-Replayed"

// maxKeyLen is the longest key accepted, as Stripe's.
const maxKeyLen = 255

// saveTimeout bounds storing or forgetting a key once the handler is done.
// That runs even if the client has gone: what the handler did is done.
const saveTimeout = 5 * time.Second

var errNoScope = apperr.New(apperr.ErrUnauthenticated, "an Idempotency-Key needs an authenticated request")

// Middleware returns the middleware that honours Idempotency-Key on the
// routes it wraps (see the package documentation for the rules). Its own
// answers are problem+json written by httpx.Error: 400 for a bad key, 401
// when [Options.Scope] finds no scope, 409 while the key's first request
// runs, 413 when the body passes the server's cap, 422 when the key was used
// with another request, 500 when the database fails.
//
// A request with a key has its body read in full before the handler runs
// (the handler reads the same bytes), so mount it inside httpx.LimitBody.
// The handler's response is buffered until it returns; Flush does nothing
// until the body passes [Options.MaxResponseBytes], from which point the
// response goes straight to the client and is not stored.
func (s *Store) Middleware() httpx.Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := s.serve(w, r, next); err != nil {
				httpx.Error(w, r, err)
			}
		})
	}
}

func (s *Store) serve(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	values, present := r.Header[header]
	if !present {
		next.ServeHTTP(w, r)
		return nil
	}
	key, err := parseKey(values)
	if err != nil {
		return err
	}
	scope, ok := s.scope(r)
	if !ok {
		return errNoScope
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	c, replay, err := s.claim(r.Context(), scope, key, fingerprint(r.Method, r.URL.Path, body))
	if err != nil {
		return err
	}
	if replay != nil {
		writeReplay(w, replay)
		return nil
	}

	r2 := r.WithContext(context.WithValue(r.Context(), keyCtx{}, key))
	r2.Body = io.NopCloser(bytes.NewReader(body))
	cw := &captureWriter{ResponseWriter: w, max: s.maxBytes}
	returned := false
	defer func() {
		if !returned { // a panic or runtime.Goexit: forget the key, and let it go on
			s.finish(r, c, nil)
		}
	}()
	next.ServeHTTP(cw, r2)
	returned = true
	s.finish(r, c, cw)
	cw.send()
	return nil
}

// finish stores the response cw captured, or forgets the key when there is
// nothing to store: the handler failed (cw is nil after a panic, or it
// answered 400 or more) or its response was too large.
func (s *Store) finish(r *http.Request, c claim, cw *captureWriter) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), saveTimeout)
	defer cancel()
	log := httpx.Logger(ctx)
	if cw == nil || cw.statusOr200() >= 400 || cw.overflow {
		if cw != nil && cw.overflow {
			log.LogAttrs(ctx, slog.LevelWarn, "idempotency key released: response too large to store",
				slog.Int("max_response_bytes", s.maxBytes))
		}
		if err := s.release(ctx, c); err != nil {
			log.LogAttrs(ctx, slog.LevelError, "idempotency key not released", slog.String("err", err.Error()))
		}
		return
	}
	h := cw.Header()
	ok, err := s.complete(ctx, c, response{
		status:      cw.statusOr200(),
		contentType: h.Get("Content-Type"),
		location:    h.Get("Location"),
		body:        cw.buf.Bytes(),
	})
	switch {
	case err != nil:
		// The client still gets its answer; a retry gets 409 until the
		// lease runs out, then runs the handler again.
		log.LogAttrs(ctx, slog.LevelError, "idempotency response not stored", slog.String("err", err.Error()))
	case !ok:
		log.LogAttrs(ctx, slog.LevelWarn, "idempotency response not stored: key taken over after its lease",
			slog.Float64("lease_seconds", s.lease.Seconds()))
	}
}

func writeReplay(w http.ResponseWriter, resp *response) {
	h := w.Header()
	if resp.contentType != "" {
		h.Set("Content-Type", resp.contentType)
	}
	if resp.location != "" {
		h.Set("Location", resp.location)
	}
	h.Set(replayedHeader, "true")
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

// parseKey returns the key of the header's values, or a validation error
// naming the header.
func parseKey(values []string) (string, error) {
	var v apperr.Validation
	switch {
	case len(values) != 1:
		v.Add(header, "must be sent once")
	case !validKey(values[0]):
		v.Add(header, "must be 1 to "+strconv.Itoa(maxKeyLen)+" printable ASCII characters, without spaces")
	default:
		return values[0], nil
	}
	return "", v.Err()
}

// validKey reports whether k is 1 to 255 bytes, each printable ASCII
// (0x21–0x7E): no space, control or non-ASCII byte.
func validKey(k string) bool {
	if len(k) < 1 || len(k) > maxKeyLen {
		return false
	}
	for i := range len(k) {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// readBody reads the whole request body: it is the request's fingerprint,
// and is capped by the server's body limit.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil { // only on requests built by hand
		return nil, nil
	}
	return httpx.ReadBody(r)
}

// fingerprint identifies a request for its key: SHA-256 over the method,
// the path and the body, the first two prefixed by their lengths so that no
// two requests share their input.
func fingerprint(method, path string, body []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d:%s%d:%s", len(method), method, len(path), path)
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// captureWriter holds the handler's status and body until it returns, for
// them to be stored before the client sees them. Headers go straight to the
// real ResponseWriter's map. A body that grows past max stops being held:
// it goes to the client as written, and is not stored.
type captureWriter struct {
	http.ResponseWriter
	max      int
	status   int // 0 until the handler writes its final status
	buf      bytes.Buffer
	overflow bool
}

func (cw *captureWriter) WriteHeader(code int) {
	switch {
	case cw.status != 0:
		return // superfluous, as net/http would have it
	case code < 200 && code != http.StatusSwitchingProtocols:
		cw.ResponseWriter.WriteHeader(code) // informational: not the answer
		return
	}
	cw.status = code
}

func (cw *captureWriter) Write(p []byte) (int, error) {
	if cw.status == 0 {
		cw.status = http.StatusOK
	}
	if cw.overflow {
		return cw.ResponseWriter.Write(p)
	}
	if cw.buf.Len()+len(p) <= cw.max {
		return cw.buf.Write(p)
	}
	cw.overflow = true
	cw.ResponseWriter.WriteHeader(cw.status)
	if _, err := cw.ResponseWriter.Write(cw.buf.Bytes()); err != nil {
		return 0, err
	}
	cw.buf = bytes.Buffer{}
	return cw.ResponseWriter.Write(p)
}

// Flush does nothing while the response is held, which is until it has
// passed the size that is stored.
func (cw *captureWriter) Flush() { _ = cw.FlushError() }

// FlushError is what http.ResponseController's Flush calls; see Flush.
func (cw *captureWriter) FlushError() error {
	if !cw.overflow {
		return nil
	}
	return http.NewResponseController(cw.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection's deadlines.
func (cw *captureWriter) Unwrap() http.ResponseWriter { return cw.ResponseWriter }

func (cw *captureWriter) statusOr200() int {
	if cw.status == 0 {
		return http.StatusOK // what net/http sends for a handler that wrote nothing
	}
	return cw.status
}

// send writes the held response to the client.
func (cw *captureWriter) send() {
	if cw.overflow {
		return
	}
	cw.ResponseWriter.WriteHeader(cw.statusOr200())
	if cw.buf.Len() > 0 {
		_, _ = cw.ResponseWriter.Write(cw.buf.Bytes())
	}
}
