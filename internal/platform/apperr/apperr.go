// Package apperr holds the error kinds that domain code marks its errors with.
//
// Domain code wraps a sentinel to say what kind of failure happened:
//
//	return fmt.Errorf("order %s: %w", id, apperr.ErrNotFound)
//
// and only the HTTP layer (package httpx) maps a kind to a status code.
package apperr

import (
	"errors"
	"strings"
)

// The error kinds. Test for them with errors.Is.
var (
	ErrInvalid         = errors.New("invalid input")           // 400
	ErrUnauthenticated = errors.New("authentication required") // 401
	ErrForbidden       = errors.New("forbidden")               // 403
	ErrNotFound        = errors.New("not found")               // 404
	ErrConflict        = errors.New("conflict")                // 409
	ErrTooLarge        = errors.New("request body too large")  // 413
	ErrUnprocessable   = errors.New("unprocessable")           // 422
	ErrRateLimited     = errors.New("rate limited")            // 429
	ErrUnavailable     = errors.New("temporarily unavailable") // 503
)

// FieldError says what is wrong with one field of the input.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every bad field of one input. It is an ErrInvalid.
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

// Validation collects field errors; its zero value is ready to use.
//
//	var v apperr.Validation
//	if in.Email == "" {
//		v.Add("email", "is required")
//	}
//	return v.Err()
type Validation struct {
	fields []FieldError
}

// Add records that field is wrong, and why.
func (v *Validation) Add(field, message string) {
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
	return &ValidationError{Fields: v.fields}
}
