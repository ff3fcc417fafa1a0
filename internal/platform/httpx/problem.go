package httpx

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/rightsize/rightsize/internal/platform/apperr"
)

// ContentTypeProblem is the media type of every error response.
const ContentTypeProblem = "application/problem+json"

// ProblemDetails is the body of every error response (RFC 9457).
//
// Type is always "about:blank": the status code, together with Errors for
// validation failures, is the machine-readable part, and Title is the
// status's standard text, as RFC 9457 prescribes for about:blank.
type ProblemDetails struct {
	Type          string `json:"type"`
	Title         string `json:"title"`
	Status        int    `json:"status"`
	Detail        string `json:"detail"`
	CorrelationID string `json:"correlation_id"`
	// Errors lists each bad field of an *apperr.ValidationError.
	Errors []apperr.FieldError `json:"errors,omitempty"`
}

// RetryAfterError is implemented by errors that know when the client may try
// again; [Error] turns it into a Retry-After header (whole seconds, at least 1).
type RetryAfterError interface {
	error
	RetryAfter() time.Duration
}

// errUnsupportedMediaType is the one kind this package adds: it is still bad
// input (errors.Is(err, apperr.ErrInvalid) holds) but deserves its own status.
var errUnsupportedMediaType error = &kindError{msg: "unsupported media type", kind: apperr.ErrInvalid}

// statuses maps error kinds to status codes: the only place that does. The
// first match wins, so more specific kinds come first.
var statuses = []struct {
	kind   error
	status int
}{
	{errUnsupportedMediaType, http.StatusUnsupportedMediaType},
	{apperr.ErrInvalid, http.StatusBadRequest},
	{apperr.ErrUnauthenticated, http.StatusUnauthorized},
	{apperr.ErrForbidden, http.StatusForbidden},
	{apperr.ErrNotFound, http.StatusNotFound},
	{apperr.ErrConflict, http.StatusConflict},
	{apperr.ErrTooLarge, http.StatusRequestEntityTooLarge},
	{apperr.ErrUnprocessable, http.StatusUnprocessableEntity},
	{apperr.ErrRateLimited, http.StatusTooManyRequests},
	{apperr.ErrUnavailable, http.StatusServiceUnavailable},
	{context.DeadlineExceeded, http.StatusServiceUnavailable},
	// The client went away: nobody reads the answer, and it is not our fault.
	{context.Canceled, statusClientClosedRequest},
}

// statusClientClosedRequest is nginx's code for a request the client gave up
// on; it keeps such requests out of the 5xx alerts.
const statusClientClosedRequest = 499

// StatusOf returns the status code [Error] answers err with: the status of
// the first matching kind, else 500.
func StatusOf(err error) int {
	for _, s := range statuses {
		if errors.Is(err, s.kind) {
			return s.status
		}
	}
	return http.StatusInternalServerError
}

// Error writes err as a problem+json response. Every error response of every
// service goes through it (or through [Problem]), so they all look alike.
//
// The status comes from the kind err wraps (see [StatusOf]). For a 4xx the
// detail is err's message, since domain errors are written to be shown; an
// *apperr.ValidationError also lists each bad field under "errors". For a 5xx
// the body reveals nothing internal, and err is logged once at ERROR through
// the request's [Logger] (the logger given to [AccessLog], with request_id),
// so the correlation_id in the body leads to the cause. A 401 carries
// WWW-Authenticate: Bearer; an err implementing [RetryAfterError] sets
// Retry-After.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	if err == nil {
		err = errors.New("httpx.Error called with a nil error")
	}
	status := StatusOf(err)
	if ra, ok := errors.AsType[RetryAfterError](err); ok {
		w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(ra.RetryAfter()), 10))
	}
	if status >= 500 {
		Logger(r.Context()).LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.Int("status", status), slog.String("error", err.Error()))
		detail := "internal error"
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			detail = "request timed out"
		case status == http.StatusServiceUnavailable:
			detail = "temporarily unavailable, try again later"
		}
		Problem(w, r, status, detail)
		return
	}
	p := newProblem(r, status, err.Error())
	if ve, ok := errors.AsType[*apperr.ValidationError](err); ok {
		p.Errors = ve.Fields
	}
	writeProblem(w, p)
}

// Problem writes a problem+json response with the given status and detail.
// It logs nothing and maps nothing: it is for middlewares that decide the
// status themselves (the mux's 404 and 405, a recovered panic). Detail must
// be safe to show to the client. A 401 gets WWW-Authenticate: Bearer unless
// the caller set a more precise challenge.
func Problem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	writeProblem(w, newProblem(r, status, detail))
}

func newProblem(r *http.Request, status int, detail string) ProblemDetails {
	return ProblemDetails{
		Type:          "about:blank",
		Title:         cmp.Or(http.StatusText(status), "Client Closed Request"),
		Status:        status,
		Detail:        detail,
		CorrelationID: RequestIDFrom(r.Context()),
	}
}

func writeProblem(w http.ResponseWriter, p ProblemDetails) {
	// Whatever a handler set for the body it meant to send does not describe
	// this one.
	w.Header().Del("Content-Length")
	w.Header().Del("Content-Encoding")
	if p.Status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	encode(w, p.Status, ContentTypeProblem, p)
}

func retryAfterSeconds(d time.Duration) int64 {
	s := int64(math.Ceil(d.Seconds()))
	return max(s, 1)
}

// kindError is an error with a message meant for the client and a kind for
// StatusOf; unlike fmt.Errorf("...: %w", kind), its message does not end with
// the kind's generic text.
type kindError struct {
	msg  string
	kind error
}

func (e kindError) Error() string { return e.msg }
func (e kindError) Unwrap() error { return e.kind }
