package httpx_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/httpx"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

type position struct {
	CreatedAt string `json:"t"`
	ID        int64  `json:"id"`
}

func parse(t testing.TB, p *httpx.Pager, query url.Values) (httpx.Page, error) {
	t.Helper()
	return p.Parse(httptest.NewRequest("GET", "/orders?"+query.Encode(), nil))
}

// invalidFields returns the fields an *apperr.ValidationError names.
func invalidFields(t testing.TB, err error) []string {
	t.Helper()
	ve, ok := err.(*apperr.ValidationError)
	if !ok {
		t.Fatalf("error: got %T %v, want *apperr.ValidationError", err, err)
	}
	var fields []string
	for _, f := range ve.Fields {
		fields = append(fields, f.Field)
	}
	return fields
}

func TestPagerRoundTrip(t *testing.T) {
	t.Parallel()
	p := httpx.NewPager(testKey, "orders")
	want := position{CreatedAt: "2025-01-02T03:04:05Z", ID: 42}
	page, err := parse(t, p, url.Values{"cursor": {p.Next(want)}, "limit": {"7"}})
	if err != nil {
		t.Fatal(err)
	}
	if page.Limit != 7 {
		t.Errorf("limit: got %d, want 7", page.Limit)
	}
	var got position
	if ok, err := page.After(&got); !ok || err != nil || got != want {
		t.Errorf("After: got %v, %v, %v, want true, nil, %v", ok, err, got, want)
	}
}

func TestPagerFirstPage(t *testing.T) {
	t.Parallel()
	page, err := parse(t, httpx.NewPager(testKey, "orders"), nil)
	if err != nil || page.Limit != httpx.DefaultLimit {
		t.Fatalf("got %v, %v, want limit 20, nil", page.Limit, err)
	}
	var pos position
	if ok, err := page.After(&pos); ok || err != nil {
		t.Errorf("After: got %v, %v, want false, nil", ok, err)
	}
}

func TestPagerRejects(t *testing.T) {
	t.Parallel()
	orders := httpx.NewPager(testKey, "orders")
	valid := orders.Next(position{ID: 1})
	raw, _ := base64.RawURLEncoding.DecodeString(valid)
	tampered := append([]byte(nil), raw...)
	tampered[2] ^= 1
	tests := []struct {
		name   string
		query  url.Values
		fields []string
	}{
		{"limit 0", url.Values{"limit": {"0"}}, []string{"limit"}},
		{"limit 101", url.Values{"limit": {"101"}}, []string{"limit"}},
		{"limit abc", url.Values{"limit": {"abc"}}, []string{"limit"}},
		{"limit empty", url.Values{"limit": {""}}, []string{"limit"}},
		{"limit -5", url.Values{"limit": {"-5"}}, []string{"limit"}},
		{"tampered payload", url.Values{"cursor": {base64.RawURLEncoding.EncodeToString(tampered)}}, []string{"cursor"}},
		{"truncated", url.Values{"cursor": {valid[:len(valid)-3]}}, []string{"cursor"}},
		{"not base64", url.Values{"cursor": {"!!!"}}, []string{"cursor"}},
		{"padded", url.Values{"cursor": {valid + "=="}}, []string{"cursor"}},
		{"newline inside", url.Values{"cursor": {valid[:4] + "\n" + valid[4:]}}, []string{"cursor"}},
		{"other scope", url.Values{"cursor": {httpx.NewPager(testKey, "invoices").Next(position{ID: 1})}}, []string{"cursor"}},
		{"other key", url.Values{"cursor": {httpx.NewPager([]byte(strings.Repeat("k", 32)), "orders").Next(position{ID: 1})}}, []string{"cursor"}},
		{"both bad", url.Values{"limit": {"1000"}, "cursor": {"x"}}, []string{"limit", "cursor"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parse(t, orders, tt.query)
			if got := httpx.StatusOf(err); got != 400 {
				t.Fatalf("status: got %d (%v), want 400", got, err)
			}
			if got := invalidFields(t, err); !reflect.DeepEqual(got, tt.fields) {
				t.Errorf("fields: got %v, want %v", got, tt.fields)
			}
		})
	}
}

func TestPageAfterWrongShape(t *testing.T) {
	t.Parallel()
	p := httpx.NewPager(testKey, "orders")
	page, err := parse(t, p, url.Values{"cursor": {p.Next("a string")}})
	if err != nil {
		t.Fatal(err)
	}
	var pos position
	_, err = page.After(&pos)
	if got := invalidFields(t, err); !reflect.DeepEqual(got, []string{"cursor"}) {
		t.Errorf("fields: got %v, want [cursor]", got)
	}
}

func TestNewList(t *testing.T) {
	t.Parallel()
	p := httpx.NewPager(testKey, "numbers")
	cursorOf := func(n int) any { return n }
	tests := []struct {
		name  string
		items []int
		limit int
		data  []int
		next  *int // position NextCursor must decode to
	}{
		{"empty", nil, 2, []int{}, nil},
		{"short page", []int{1}, 2, []int{1}, nil},
		{"exactly limit", []int{1, 2}, 2, []int{1, 2}, nil},
		{"limit plus one", []int{1, 2, 3}, 2, []int{1, 2}, ptr(2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := httpx.NewList(tt.items, tt.limit, cursorOf, p)
			b, err := json.Marshal(l)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Data       []int   `json:"data"`
				NextCursor *string `json:"next_cursor"`
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Data, tt.data) {
				t.Errorf("data: got %s, want %v", b, tt.data)
			}
			if (got.NextCursor == nil) != (tt.next == nil) {
				t.Fatalf("next_cursor: got %s, want present=%v", b, tt.next != nil)
			}
			if tt.next == nil {
				return
			}
			page, err := parse(t, p, url.Values{"cursor": {*got.NextCursor}})
			if err != nil {
				t.Fatal(err)
			}
			var pos int
			if _, err := page.After(&pos); err != nil || pos != *tt.next {
				t.Errorf("next position: got %d, %v, want %d", pos, err, *tt.next)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func FuzzParseCursor(f *testing.F) {
	p := httpx.NewPager(testKey, "orders")
	for _, v := range []any{position{ID: 1}, 7, "x", nil, []int{1, 2}} {
		f.Add(p.Next(v))
	}
	f.Add("")
	f.Add("AAAA")
	f.Add(httpx.NewPager(testKey, "other").Next(1))
	f.Fuzz(func(t *testing.T, cursor string) {
		page, err := parse(t, p, url.Values{"cursor": {cursor}})
		if err != nil || cursor == "" {
			return
		}
		var payload json.RawMessage
		if _, err := page.After(&payload); err != nil {
			t.Fatalf("%q: a verified payload does not decode: %v", cursor, err)
		}
		// Only Next makes cursors, and each position has one spelling.
		if again := p.Next(payload); again != cursor {
			t.Fatalf("%q accepted, but Next of its payload is %q", cursor, again)
		}
	})
}

func TestCheckParams(t *testing.T) {
	var v apperr.Validation
	httpx.CheckParams(&v, "limit=1&cursor=a&cursor=b&Limit=2&x=%00", "limit", "cursor")
	ve, ok := errors.AsType[*apperr.ValidationError](v.Err())
	if !ok {
		t.Fatalf("got %v, want a validation error", v.Err())
	}
	got := map[string]bool{}
	for _, f := range ve.Fields {
		got[f.Field] = true
	}
	if len(got) != 3 || !got["cursor"] || !got["Limit"] || !got["x"] {
		t.Errorf("bad parameters: got %v, want cursor (twice), Limit and x (unknown)", ve.Fields)
	}
	var ok2 apperr.Validation
	if q := httpx.CheckParams(&ok2, "limit=5", "limit", "cursor"); ok2.Err() != nil || q.Get("limit") != "5" {
		t.Errorf("known parameters: got %v, %v; want limit=5 accepted", q, ok2.Err())
	}
	// What url.Values would drop without a word is refused, not ignored.
	for _, raw := range []string{"limit=1;limit=2", "limit=%zz", "foo;bar=1"} {
		var bad apperr.Validation
		httpx.CheckParams(&bad, raw, "limit", "cursor")
		ve, ok := errors.AsType[*apperr.ValidationError](bad.Err())
		if !ok || !slices.ContainsFunc(ve.Fields, func(f apperr.FieldError) bool { return f.Field == "query" }) {
			t.Errorf("%q: got %v, want the query named malformed", raw, bad.Err())
		}
	}
}
