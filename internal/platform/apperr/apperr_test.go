package apperr_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/platform/apperr"
)

var errCause = errors.New(`query "SELECT * FROM users WHERE email = $1": connection reset`)

func validationErr() error {
	var v apperr.Validation
	v.Add("email", "is required")
	v.Add("age", "must not be negative")
	return v.Err()
}

func TestIs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		err     error
		is, not []error
	}{
		{"New", apperr.New(apperr.ErrNotFound, "no such order"),
			[]error{apperr.ErrNotFound}, []error{apperr.ErrConflict, errCause}},
		{"Errorf", apperr.Errorf(apperr.ErrForbidden, "order %d is not yours", 7),
			[]error{apperr.ErrForbidden}, []error{apperr.ErrNotFound}},
		{"Wrap keeps kind and cause", apperr.Wrap(errCause, apperr.ErrConflict, "email taken"),
			[]error{apperr.ErrConflict, errCause}, []error{apperr.ErrNotFound}},
		{"wrapped by fmt.Errorf", fmt.Errorf("signup: %w", apperr.Wrap(errCause, apperr.ErrConflict, "email taken")),
			[]error{apperr.ErrConflict, errCause}, nil},
		{"kind of a cause inside", apperr.Wrap(fmt.Errorf("x: %w", apperr.ErrForbidden), apperr.ErrNotFound, "no such order"),
			[]error{apperr.ErrNotFound, apperr.ErrForbidden}, []error{apperr.ErrConflict}},
		{"finer kind", apperr.New(fmt.Errorf("unsupported media type: %w", apperr.ErrInvalid), "use JSON"),
			[]error{apperr.ErrInvalid}, nil},
		{"no kind", &apperr.Error{Message: "m", Err: errCause},
			[]error{errCause}, []error{apperr.ErrInvalid}},
		{"validation", validationErr(),
			[]error{apperr.ErrInvalid}, []error{apperr.ErrConflict}},
	}
	for _, tt := range tests {
		for _, target := range tt.is {
			if !errors.Is(tt.err, target) {
				t.Errorf("%s: errors.Is(%v, %v) = false, want true", tt.name, tt.err, target)
			}
		}
		for _, target := range tt.not {
			if errors.Is(tt.err, target) {
				t.Errorf("%s: errors.Is(%v, %v) = true, want false", tt.name, tt.err, target)
			}
		}
	}
}

func TestUnwrapLeavesOutNil(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  *apperr.Error
		want int
	}{
		{&apperr.Error{}, 0},
		{&apperr.Error{Kind: apperr.ErrInvalid}, 1},
		{&apperr.Error{Err: errCause}, 1},
		{&apperr.Error{Kind: apperr.ErrInvalid, Err: errCause}, 2},
	}
	for _, tt := range tests {
		got := tt.err.Unwrap()
		if len(got) != tt.want {
			t.Errorf("%#v.Unwrap(): got %v, want %d errors", tt.err, got, tt.want)
		}
		for _, e := range got {
			if e == nil {
				t.Errorf("%#v.Unwrap(): got a nil entry in %v", tt.err, got)
			}
		}
	}
}

func TestMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"plain error", errCause, ""},
		{"bare kind", apperr.ErrNotFound, ""},
		{"kind wrapped by fmt.Errorf", fmt.Errorf("order %s: %w", "42", apperr.ErrNotFound), ""},
		{"New", apperr.New(apperr.ErrNotFound, "no such order"), "no such order"},
		{"Errorf", apperr.Errorf(apperr.ErrInvalid, "limit %d is over %d", 500, 100), "limit 500 is over 100"},
		{"Wrap hides its cause", apperr.Wrap(errCause, apperr.ErrConflict, "email taken"), "email taken"},
		{"under fmt.Errorf context", fmt.Errorf("signup %s: %w", "a@b", apperr.New(apperr.ErrConflict, "email taken")), "email taken"},
		{"outermost wins", apperr.Wrap(apperr.New(apperr.ErrForbidden, "order 7 is not yours"), apperr.ErrNotFound, "no such order"), "no such order"},
		{"outermost without a message wins", apperr.Wrap(apperr.New(apperr.ErrForbidden, "order 7 is not yours"), apperr.ErrNotFound, ""), ""},
		{"validation", validationErr(), "invalid input: email: is required; age: must not be negative"},
		{"validation under context", fmt.Errorf("create order: %w", validationErr()), "invalid input: email: is required; age: must not be negative"},
		{"joined: first one", errors.Join(errCause, apperr.New(apperr.ErrConflict, "a"), apperr.New(apperr.ErrInvalid, "b")), "a"},
	}
	for _, tt := range tests {
		if got := apperr.Message(tt.err); got != tt.want {
			t.Errorf("%s: Message(%v) = %q, want %q", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestErrorTextIsForLogs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"message only", apperr.New(apperr.ErrNotFound, "no such order"), "no such order"},
		{"no message: the kind's text", apperr.New(apperr.ErrNotFound, ""), "not found"},
		{"with cause", apperr.Wrap(errCause, apperr.ErrConflict, "email taken"),
			`email taken: query "SELECT * FROM users WHERE email = $1": connection reset`},
		{"kind's text and cause", apperr.Wrap(errCause, apperr.ErrUnavailable, ""),
			`temporarily unavailable: query "SELECT * FROM users WHERE email = $1": connection reset`},
		{"under context", fmt.Errorf("signup: %w", apperr.Wrap(errCause, apperr.ErrConflict, "email taken")),
			`signup: email taken: query "SELECT * FROM users WHERE email = $1": connection reset`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%s: Error() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	limited := &apperr.Error{Kind: apperr.ErrRateLimited, Message: "slow down", RetryAfter: 30 * time.Second}
	tests := []struct {
		name string
		err  error
		want time.Duration
	}{
		{"nil", nil, 0},
		{"none", apperr.New(apperr.ErrRateLimited, "slow down"), 0},
		{"set", limited, 30 * time.Second},
		{"under context", fmt.Errorf("login: %w", limited), 30 * time.Second},
		{"outermost that sets one", &apperr.Error{Kind: apperr.ErrUnavailable, RetryAfter: time.Minute, Err: limited}, time.Minute},
		{"inner one when the outer sets none", apperr.Wrap(limited, apperr.ErrRateLimited, "later"), 30 * time.Second},
	}
	for _, tt := range tests {
		if got := apperr.RetryAfter(tt.err); got != tt.want {
			t.Errorf("%s: RetryAfter = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	var v apperr.Validation
	if err := v.Err(); err != nil {
		t.Fatalf("empty Validation: Err() = %v, want nil", err)
	}
	v.Check(true, "name", "is required")
	v.Check(false, "age", "must not be negative")
	err := v.Err()
	ve, ok := errors.AsType[*apperr.ValidationError](err)
	if !ok || len(ve.Fields) != 1 || ve.Fields[0] != (apperr.FieldError{Field: "age", Message: "must not be negative"}) {
		t.Errorf("Err() = %#v, want one field error for age", err)
	}
}

// A Validation keeps the first MaxFieldErrors errors and says how many more
// there were, so that no input can make an answer of megabytes.
func TestValidationCapsItsErrors(t *testing.T) {
	var v apperr.Validation
	for i := range 1000 {
		v.Add(fmt.Sprintf("items[%d].sku", i), "is required")
	}
	ve, ok := errors.AsType[*apperr.ValidationError](v.Err())
	if !ok {
		t.Fatalf("Err: got %v, want a *ValidationError", v.Err())
	}
	if n := len(ve.Fields); n != apperr.MaxFieldErrors+1 {
		t.Fatalf("got %d fields, want %d and a last entry counting the rest", n, apperr.MaxFieldErrors+1)
	}
	if last := ve.Fields[len(ve.Fields)-1]; last.Message != "and 980 more errors, not listed" {
		t.Errorf("last entry: got %+v, want it to count the 980 dropped", last)
	}
}
