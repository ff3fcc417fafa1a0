// Package apperr holds the error kinds that domain code marks its errors with,
// and the one error type that pairs a kind with a message for the client.
//
// What a client reads and what the log reads are kept apart. Domain code
// says what the client may read with [New], [Errorf] or [Wrap]:
//
//	return apperr.New(apperr.ErrNotFound, "no such order")
//	return apperr.Wrap(err, apperr.ErrConflict, "email already registered")
//
// and wraps freely for context, which only the log sees:
//
//	return fmt.Errorf("cancel order %s: %w", id, err)
//
// Only the HTTP layer (package httpx) maps a kind to a status code, and it
// shows the client [Message] of the error, never the wrapped chain: an error
// that merely wraps a kind (fmt.Errorf("order %s: %w", id, apperr.ErrNotFound))
// reaches the client as its status's standard text ("Not Found").
package apperr

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// The error kinds. Test for them with errors.Is. Their text is for logs; a
// client reading a bare kind sees its status's standard text.
var (
	ErrInvalid         = errors.New("invalid input")           // 400
	ErrUnauthenticated = errors.New("authentication required") // 401
	ErrPaymentRequired = errors.New("payment required")        // 402: a plan's limit, see Limit
	ErrForbidden       = errors.New("forbidden")               // 403
	ErrNotFound        = errors.New("not found")               // 404
	ErrConflict        = errors.New("conflict")                // 409
	ErrTooLarge        = errors.New("request body too large")  // 413
	ErrUnprocessable   = errors.New("unprocessable")           // 422
	ErrRateLimited     = errors.New("rate limited")            // 429
	ErrUnavailable     = errors.New("temporarily unavailable") // 503
)

// Error is an error of a known kind with a message chosen to be shown to the
// client. Its text, for logs, also carries the cause. errors.Is sees through
// it to both Kind and Err.
//
// When errors nest, the outermost *Error speaks for the whole chain: its kind
// picks the status and its message is what the client reads, so domain code
// can turn a store's error into another kind on purpose (a forbidden row
// reported as not found, say) without the inner one leaking.
type Error struct {
	// Kind is one of the Err* kinds above, or an error that wraps one (a
	// finer kind of a package's own, such as httpx's unsupported media type).
	Kind error
	// Message is safe to show to the client; empty means the kind's
	// status text.
	Message string
	// RetryAfter, if positive, tells the client when to try again.
	RetryAfter time.Duration
	// Err is the cause, for the log only; it may be nil.
	Err error
}

// New returns an *Error of kind with message for the client.
func New(kind error, message string) error {
	return &Error{Kind: kind, Message: message}
}

// Errorf returns an *Error of kind whose client message is formatted with
// fmt.Sprintf. Put no error's text in it: to keep a cause, use [Wrap].
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error of kind with message for the client, keeping err as
// its cause for errors.Is and the log.
func Wrap(err, kind error, message string) error {
	return &Error{Kind: kind, Message: message, Err: err}
}

// Error reads "message: cause" (the kind's text when there is no message).
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" && e.Kind != nil {
		msg = e.Kind.Error()
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

// Unwrap makes errors.Is see both the kind and the cause; it leaves out
// whichever of them is nil.
func (e *Error) Unwrap() []error {
	switch {
	case e.Kind == nil && e.Err == nil:
		return nil
	case e.Kind == nil:
		return []error{e.Err}
	case e.Err == nil:
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Message returns what a client may read of err: the message of the
// outermost *Error or *ValidationError in its chain, or "" if there is none
// or the outermost *Error has no message (the caller then shows the status's
// standard text). Messages of errors nested inside the outermost one are not
// looked at: it chose the kind, so it alone speaks to the client.
func Message(err error) string {
	var msg string
	walk(err, func(err error) bool {
		switch e := err.(type) {
		case *Error:
			msg = e.Message
			return false
		case *ValidationError:
			msg = e.Error()
			return false
		}
		return true
	})
	return msg
}

// RetryAfter returns the RetryAfter of the outermost *Error in err's chain
// that sets one, or 0.
func RetryAfter(err error) time.Duration {
	var d time.Duration
	walk(err, func(err error) bool {
		if e, ok := err.(*Error); ok {
			d = e.RetryAfter
		}
		return d <= 0
	})
	return d
}

// walk calls visit on every error of err's tree, outermost first (the
// order errors.As uses), until visit returns false.
func walk(err error, visit func(error) bool) bool {
	if err == nil {
		return true
	}
	if !visit(err) {
		return false
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return walk(u.Unwrap(), visit)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if !walk(e, visit) {
				return false
			}
		}
	}
	return true
}

// Limit is a plan limit a request ran into. Wrapped in an error (see
// [LimitError]), it becomes the problem's "limit" member, so that a client
// can tell which limit it was and how to lift it.
type Limit struct {
	Name    string `json:"name"`    // what is limited, such as "orders_per_month"
	Plan    string `json:"plan"`    // the plan whose limit it is
	Allowed int    `json:"allowed"` // how many the plan allows
	Upgrade string `json:"upgrade"` // how to lift it
}

// LimitError returns an ErrPaymentRequired error for limit, with message
// for the client.
func LimitError(limit Limit, message string) error {
	return &Error{Kind: ErrPaymentRequired, Message: message, Err: &limitError{limit}}
}

type limitError struct{ Limit Limit }

func (e *limitError) Error() string {
	return fmt.Sprintf("plan %s allows %d %s", e.Limit.Plan, e.Limit.Allowed, e.Limit.Name)
}

// LimitOf returns the Limit err ran into, if it is a [LimitError].
func LimitOf(err error) (Limit, bool) {
	if e, ok := errors.AsType[*limitError](err); ok {
		return e.Limit, true
	}
	return Limit{}, false
}

// FieldError says what is wrong with one field of the input.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every bad field of one input. It is an ErrInvalid,
// and its text is written for the client.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid input: ")
	for i, f := range e.Fields {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Field + ": " + f.Message)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrInvalid) true for a *ValidationError.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Validation collects field errors; its zero value is ready to use. It keeps
// the first [MaxFieldErrors] of them, so that a request holding thousands of
// bad values cannot make an answer (and a log line) of megabytes.
type Validation struct {
	fields  []FieldError
	dropped int
}

// MaxFieldErrors is the most field errors a [Validation] reports.
const MaxFieldErrors = 20

// Add records that field is wrong, and why.
func (v *Validation) Add(field, message string) {
	if len(v.fields) == MaxFieldErrors {
		v.dropped++
		return
	}
	v.fields = append(v.fields, FieldError{Field: field, Message: message})
}

// Check records message for field when ok is false.
func (v *Validation) Check(ok bool, field, message string) {
	if !ok {
		v.Add(field, message)
	}
}

// Err returns a *ValidationError listing every recorded field, or nil if none was.
func (v *Validation) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	fields := v.fields
	if v.dropped > 0 {
		fields = append(fields[:len(fields):len(fields)], FieldError{Field: "", Message: fmt.Sprintf("and %d more errors, not listed", v.dropped)})
	}
	return &ValidationError{Fields: fields}
}
