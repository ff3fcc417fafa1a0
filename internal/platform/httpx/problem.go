package httpx

import (
	"cmp"
	"context"
	"errors"
	"fmt"
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
	// Limit is the plan limit of an apperr.LimitError (402).
	Limit *apperr.Limit `json:"limit,omitempty"`
}

// errUnsupportedMediaType is the one kind this package adds: it is still bad
// input (errors.Is(err, apperr.ErrInvalid) holds) but deserves its own status.
// It is the Kind of an *apperr.Error that says what the client sent.
var errUnsupportedMediaType = fmt.Errorf("unsupported media type: %w", apperr.ErrInvalid)

// statuses maps error kinds to status codes: the only place that does. The
// first match wins, so more specific kinds come first.
var statuses = []struct {
	kind   error
	status int
}{
	{errUnsupportedMediaType, http.StatusUnsupportedMediaType},
	{apperr.ErrInvalid, http.StatusBadRequest},
	{apperr.ErrUnauthenticated, http.StatusUnauthorized},
	{apperr.ErrPaymentRequired, http.StatusPaymentRequired},
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

// StatusOf returns the status code [Error] answers err with. The kind of the
// outermost *apperr.Error in err's chain decides, because that error also
// holds the message the client reads and was written to be answered so; an
// inner kind does not override it. Without one, the first kind of the table
// that err wraps decides. Anything else is a 500.
func StatusOf(err error) int {
	if e, ok := errors.AsType[*apperr.Error](err); ok && e.Kind != nil {
		err = e.Kind
	}
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
// What the client reads and what the log reads are kept apart:
//
//   - The status comes from err's kind (see [StatusOf]).
//   - For a 4xx, the detail is only apperr.Message(err): the message given
//     on purpose to an *apperr.Error (or the text of an
//     *apperr.ValidationError, whose bad fields are also listed under
//     "errors"). An error that carries no such message, a bare kind or a
//     plain fmt.Errorf("order %s: %w", id, apperr.ErrNotFound), gets the
//     status's standard text ("Not Found"). err.Error(), with its wrapped
//     context, SQL and kind suffixes, is never shown: it is recorded on the
//     request's [Info] instead, and [AccessLog] adds it to the request's one
//     line under "err".
//   - For a 5xx, the body reveals nothing internal (a 503 shows the message
//     chosen for it, if any: what is unavailable), and err.Error() is logged
//     once at ERROR, under "err", through the request's [Logger] (the logger
//     given to [AccessLog], with request_id), so the correlation_id in the
//     body leads to the cause.
//
// A 401 carries WWW-Authenticate: Bearer; apperr.RetryAfter(err), when
// positive, sets Retry-After in whole seconds (at least 1).
func Error(w http.ResponseWriter, r *http.Request, err error) {
	if err == nil {
		err = errors.New("httpx.Error called with a nil error")
	}
	status := StatusOf(err)
	if d := apperr.RetryAfter(err); d > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(d), 10))
	}
	if status >= 500 {
		Logger(r.Context()).LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.Int("status", status), slog.String("err", err.Error()))
		detail := "internal error"
		switch {
		case status == http.StatusServiceUnavailable && apperr.Message(err) != "":
			// A 503's message says what is unavailable ("billing is not
			// configured", "Stripe is unavailable"), chosen for the client
			// like any other, even when a deadline of its own caused it.
			detail = apperr.Message(err)
		case errors.Is(err, context.DeadlineExceeded):
			detail = "request timed out"
		case status == http.StatusServiceUnavailable:
			detail = "temporarily unavailable, try again later"
		}
		Problem(w, r, status, detail)
		return
	}
	InfoFrom(r.Context()).err = err.Error()
	p := newProblem(r, status, "")
	p.Detail = cmp.Or(apperr.Message(err), p.Title)
	// Only when the validation error is what the client is told about, not
	// a cause an outer kind chose to hide.
	if ve, ok := errors.AsType[*apperr.ValidationError](err); ok && status == http.StatusBadRequest {
		p.Errors = ve.Fields
	}
	if l, ok := apperr.LimitOf(err); ok && status == http.StatusPaymentRequired {
		p.Limit = &l
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
