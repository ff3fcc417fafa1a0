package httpx_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/httpx"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	b := setup(t)
	jsonCT := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name   string
		header http.Header
		body   string
		status int
		detail string // a substring of the detail
		fields []string
	}{
		{"ok", jsonCT, `{"name":"a","age":3,"tags":["x"]}`, 201, "", nil},
		{"ok with charset", http.Header{"Content-Type": {"application/json; charset=utf-8"}}, `{"name":"a"}`, 201, "", nil},
		{"unknown field", jsonCT, `{"name":"a","colour":"red"}`, 400, `unknown field "colour"`, nil},
		// encoding/json alone folds case and lets the last duplicate win.
		{"field in other case", jsonCT, `{"Name":"a"}`, 400, `unknown field "Name"`, nil},
		{"field folded from U+017F", jsonCT, `{"name":"a","tagſ":["x"]}`, 400, `unknown field "tagſ"`, nil},
		{"field given twice", jsonCT, `{"name":"a","age":3,"name":"b"}`, 400, `field "name" is given twice`, nil},
		{"ok with escapes", jsonCT, `{"n\u0061me":"a","tags":["x","y"]}`, 201, "", nil},
		{"trailing data", jsonCT, `{"name":"a"} {"name":"b"}`, 400, "unexpected data after the JSON value", nil},
		{"trailing garbage", jsonCT, `{"name":"a"}]`, 400, "unexpected data after the JSON value", nil},
		{"wrong type", jsonCT, `{"name":"a","age":"three"}`, 400, `field "age": want number, got string`, nil},
		{"wrong element type", jsonCT, `{"name":"a","tags":[1]}`, 400, `field "tags": want string, got number`, nil},
		{"not an object", jsonCT, `["a"]`, 400, "body: want object, got array", nil},
		{"out of range", jsonCT, `{"name":"a","age":1e40}`, 400, `field "age": 1e40 is out of range`, nil},
		{"syntax error", jsonCT, `{"name":"a",}`, 400, "malformed JSON at byte 13", nil},
		{"truncated", jsonCT, `{"name":"a"`, 400, "body ends in the middle of a value", nil},
		{"empty body", jsonCT, ``, 400, "request body is empty", nil},
		{"too large", jsonCT, `{"name":"` + strings.Repeat("x", bodyLimit) + `"}`, 413, "larger than the 1024-byte limit", nil},
		{"too large after the value", jsonCT, `{"name":"a"}` + strings.Repeat(" ", bodyLimit), 413, "1024-byte limit", nil},
		{"no content type", nil, `{"name":"a"}`, 415, "Content-Type must be application/json", nil},
		{"wrong content type", http.Header{"Content-Type": {"text/plain"}}, `{"name":"a"}`, 415, `"text/plain" is not application/json`, nil},
		{"two bad fields", jsonCT, `{"age":-1}`, 400, "name: is required", []string{"name", "age"}},
		{"null", jsonCT, `null`, 400, "name: is required", []string{"name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := b.do(t, "POST", "/items", tt.header, tt.body)
			if tt.status == http.StatusCreated {
				if resp.StatusCode != tt.status {
					t.Fatalf("status: got %d, want %d (body %s)", resp.StatusCode, tt.status, resp.body)
				}
				return
			}
			p := problem(t, resp, tt.status)
			if !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("detail: got %q, want it to contain %q", p.Detail, tt.detail)
			}
			var fields []string
			for _, f := range p.Errors {
				fields = append(fields, f.Field)
			}
			if !reflect.DeepEqual(fields, tt.fields) {
				t.Errorf("fields: got %v, want %v", fields, tt.fields)
			}
		})
	}
}

type pointerValidated struct {
	N int `json:"n"`
}

func (p *pointerValidated) Validate() error {
	if p.N == 0 {
		return apperr.ErrInvalid
	}
	return nil
}

func TestDecodePointerTypes(t *testing.T) {
	t.Parallel()
	req := func(body string) *http.Request {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	if _, err := httpx.Decode[pointerValidated](req(`{}`)); !errors.Is(err, apperr.ErrInvalid) {
		t.Errorf("pointer-receiver Validate on T: got %v, want ErrInvalid", err)
	}
	if _, err := httpx.Decode[*pointerValidated](req(`{}`)); !errors.Is(err, apperr.ErrInvalid) {
		t.Errorf("Validate on *T: got %v, want ErrInvalid", err)
	}
	if _, err := httpx.Decode[*pointerValidated](req(`null`)); httpx.StatusOf(err) != 400 {
		t.Errorf("null into *T: got %v, want a 400", err)
	}
	if v, err := httpx.Decode[*pointerValidated](req(`{"n":2}`)); err != nil || v.N != 2 {
		t.Errorf("got %v, %v, want n=2 and no error", v, err)
	}
}

func TestEncode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		v      any
		body   string
		ct     string
	}{
		{"object", 200, map[string]int{"a": 1}, "{\"a\":1}\n", "application/json"},
		{"no content", 204, nil, "", ""},
		{"empty list", 200, httpx.NewList[int](nil, 20, nil, nil), "{\"data\":[],\"next_cursor\":null}\n", "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			httpx.Encode(w, tt.status, tt.v)
			if w.Code != tt.status || w.Body.String() != tt.body || w.Header().Get("Content-Type") != tt.ct {
				t.Errorf("got %d %q %q, want %d %q %q", w.Code, w.Body, w.Header().Get("Content-Type"), tt.status, tt.body, tt.ct)
			}
		})
	}
	t.Run("unencodable panics before writing", func(t *testing.T) {
		t.Parallel()
		w := httptest.NewRecorder()
		defer func() {
			if recover() == nil {
				t.Error("got no panic, want one")
			}
			if w.Body.Len() != 0 {
				t.Errorf("body: got %q, want nothing written", w.Body)
			}
		}()
		httpx.Encode(w, 200, math.NaN())
	})
}

type fuzzBody struct {
	S   string            `json:"s"`
	N   int64             `json:"n"`
	F   float64           `json:"f"`
	B   bool              `json:"b"`
	L   []string          `json:"l"`
	M   map[string]int    `json:"m"`
	P   *fuzzBody         `json:"p"`
	Raw json.RawMessage   `json:"raw"`
	U   map[string]uint16 `json:"u"`
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"s":"x","n":1,"f":1.5,"b":true,"l":["a"],"m":{"k":1},"p":{"s":"y"},"raw":[1,{}],"u":{"a":7}}`,
		`{}`, `null`, `[]`, `{"s":1}`, `{"x":1}`, `{} {}`, `{"p":{"p":{"p":null}}}`, `"\ud800"`, `{"s":"\u00e9\ud83d\ude00"}`,
		`{"n":9223372036854775808}`, `{"f":1e400}`, ``, ` `, `{"raw":`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 4096)
		v, err := httpx.Decode[fuzzBody](r)
		if err != nil {
			if s := httpx.StatusOf(err); s != 400 && s != 413 {
				t.Fatalf("%q: got status %d (%v), want 400 or 413", body, s, err)
			}
			return
		}
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%q decoded but does not re-encode: %v", body, err)
		}
		r2 := httptest.NewRequest("POST", "/", bytes.NewReader(out))
		r2.Header.Set("Content-Type", "application/json")
		v2, err := httpx.Decode[fuzzBody](r2)
		if err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", out, err)
		}
		out2, _ := json.Marshal(v2)
		if !bytes.Equal(out, out2) {
			t.Fatalf("round trip: got %s, want %s", out2, out)
		}
	})
}
