package httpx

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/rightsize/rightsize/internal/platform/apperr"
)

// Limits of the ?limit= query parameter.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// macSize is the length of the truncated HMAC-SHA256 in a cursor: 128 bits
// is far beyond guessing and keeps cursors short.
const macSize = 16

// cursorEncoding is strict so that each cursor has exactly one spelling.
var cursorEncoding = base64.RawURLEncoding.Strict()

// Pager reads and writes the cursors of one list.
//
// A cursor is an opaque, signed position: base64url of a JSON payload followed
// by a truncated HMAC-SHA256 over the list's scope and the payload. Clients
// cannot forge or alter one, and a cursor from one list is rejected by
// another. The payload is signed, not encrypted: put positions in it (a
// created_at and an id), not secrets.
//
// The idiom: parse the page, fetch Limit+1 rows after the cursor's position,
// and let [NewList] trim the extra row and turn the last kept row into the
// next cursor. ExamplePager shows a list handler and a client paging through
// it.
type Pager struct {
	key   []byte
	scope string
}

// NewPager returns a Pager for the list named scope (e.g. "orders"), signing
// with key. Give each list its own scope; a list whose filters change what a
// position means should include them in the scope or the position. NewPager
// panics if key is shorter than 16 bytes, a configuration bug.
func NewPager(key []byte, scope string) *Pager {
	if len(key) < 16 {
		panic("httpx: NewPager: key must be at least 16 bytes")
	}
	return &Pager{key: append([]byte(nil), key...), scope: scope}
}

// Page is the requested window of a list.
type Page struct {
	// Limit is the number of items to return, in [1, MaxLimit].
	Limit int

	payload []byte // nil on the first page
}

// After decodes the position the cursor points after into v and reports
// true, or reports false if the request had no cursor (the first page). The
// error, an *apperr.ValidationError naming "cursor", means the cursor was
// made for a different position type, as after a deploy that changed it.
func (p Page) After(v any) (bool, error) {
	if p.payload == nil {
		return false, nil
	}
	if err := json.Unmarshal(p.payload, v); err != nil {
		var val apperr.Validation
		val.Add("cursor", "is no longer valid; start again from the first page")
		return false, val.Err()
	}
	return true, nil
}

// Parse reads ?limit= (default DefaultLimit, 1 to MaxLimit) and ?cursor=. Any
// bad value is reported in an *apperr.ValidationError naming the parameter,
// both at once if both are bad.
func (p *Pager) Parse(r *http.Request) (Page, error) {
	q := r.URL.Query()
	page := Page{Limit: DefaultLimit}
	var val apperr.Validation
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > MaxLimit {
			val.Add("limit", fmt.Sprintf("must be a whole number from 1 to %d", MaxLimit))
		} else {
			page.Limit = n
		}
	}
	if c := q.Get("cursor"); c != "" {
		payload, ok := p.open(c)
		if ok {
			page.payload = payload
		} else {
			val.Add("cursor", "is not a cursor this list returned")
		}
	}
	return page, val.Err()
}

// Next returns the cursor for the position v, which must marshal to JSON: it
// is a value of the caller's own position type, so a failure is a bug and
// Next panics.
func (p *Pager) Next(v any) string {
	payload, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("httpx: Pager.Next: encoding %T: %v", v, err))
	}
	return cursorEncoding.EncodeToString(append(payload, p.mac(payload)...))
}

func (p *Pager) open(cursor string) ([]byte, bool) {
	// The decoder skips CR and LF even in strict mode; refusing them keeps
	// one spelling per cursor.
	if strings.ContainsAny(cursor, "\r\n") {
		return nil, false
	}
	b, err := cursorEncoding.DecodeString(cursor)
	if err != nil || len(b) <= macSize {
		return nil, false
	}
	payload, tag := b[:len(b)-macSize], b[len(b)-macSize:]
	if !hmac.Equal(tag, p.mac(payload)) {
		return nil, false
	}
	return payload, true
}

func (p *Pager) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, p.key)
	// The scope is length-prefixed so that no scope/payload pair can be
	// re-split into another.
	m.Write(strconv.AppendInt(nil, int64(len(p.scope)), 10))
	m.Write([]byte{':'})
	m.Write([]byte(p.scope))
	m.Write(payload)
	return m.Sum(nil)[:macSize]
}

// List is the response body of every list endpoint. NextCursor is null on the
// last page. Build it with [NewList], whose Data is never nil, so that an
// empty page encodes as [] and clients can always iterate over data. (A
// MarshalJSON doing that here would cost every list a second pass over its
// whole encoding, which encoding/json makes to check a marshaler's output.)
type List[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// NewList builds a page from items fetched with a limit of limit+1: if there
// are more than limit items, the extra one only proves that a next page
// exists, so it is dropped and the position of the last item kept
// (cursorOf(item)) becomes NextCursor. limit must be at least 1, as
// [Page].Limit always is.
func NewList[T any](items []T, limit int, cursorOf func(T) any, p *Pager) List[T] {
	if items == nil {
		items = []T{}
	}
	if len(items) <= limit {
		return List[T]{Data: items}
	}
	items = items[:limit]
	next := p.Next(cursorOf(items[limit-1]))
	return List[T]{Data: items, NextCursor: &next}
}

// CheckParams parses the raw query string and adds to v an error if it is
// malformed (a ';' separator or a bad %-escape, parts that url.Values drops
// without a word), for each parameter that is not one of names, and for each
// given more than once, so that a misspelt filter is refused rather than
// silently ignored. It returns the parameters.
func CheckParams(v *apperr.Validation, raw string, names ...string) url.Values {
	q, err := url.ParseQuery(raw)
	if err != nil {
		v.Add("query", "is malformed: separate parameters with & and escape characters as %XX")
	}
	for name, values := range q {
		switch {
		case !slices.Contains(names, name):
			v.Add(name, "is not a parameter of this route ("+strings.Join(names, ", ")+")")
		case len(values) > 1:
			v.Add(name, "must be given once")
		}
	}
	return q
}
