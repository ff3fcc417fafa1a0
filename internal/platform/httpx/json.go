package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/rightsize/rightsize/internal/platform/apperr"
)

// Encode writes v as a JSON response with the given status.
//
// v is marshalled before anything is written, so a value that cannot be
// encoded (a bug: an unsupported type, a NaN) never produces a half-written
// 200: Encode panics instead, and [Recover] logs the stack and answers 500.
// Errors writing to the client are ignored; there is no one left to tell.
// For 204 and 304 only the header is written, as those carry no body.
func Encode(w http.ResponseWriter, status int, v any) {
	encode(w, status, "application/json", v)
}

func encode(w http.ResponseWriter, status int, contentType string, v any) {
	if status == http.StatusNoContent || status == http.StatusNotModified {
		w.WriteHeader(status)
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("httpx: encoding %T response: %v", v, err))
	}
	write(w, status, contentType, append(b, '\n'))
}

// WriteJSON writes body, a JSON value the caller encoded itself, as the
// response with the given status, as [Encode] writes what it encodes. It is
// for the few answers large enough that encoding them by hand pays.
func WriteJSON(w http.ResponseWriter, status int, body []byte) {
	write(w, status, "application/json", body)
}

func write(w http.ResponseWriter, status int, contentType string, b []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	// Known length: net/http then sends a body over its 4 KiB buffer in
	// one piece rather than as chunks.
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Validator is implemented by request types that check themselves. Decode
// calls Validate after decoding; it should report every bad field at once,
// typically by returning apperr.Validation.Err().
type Validator interface {
	Validate() error
}

// Decode reads the request body as exactly one JSON value of type T, then
// validates it if T or *T implements [Validator].
//
// It is strict, so that a client's mistake is reported rather than silently
// ignored, and each of its own errors is an *apperr.Error whose message, the
// detail [Error] shows the client, names what is wrong:
//   - Content-Type not application/json: 415
//   - empty body, malformed JSON (with its byte offset), an unknown field, a
//     value of the wrong type ("field \"age\": want number, got string"),
//     or anything after the value: apperr.ErrInvalid (400)
//   - a body over the [LimitBody] cap: apperr.ErrTooLarge (413), naming the cap
//   - Validate's error, unchanged.
//
// A body that stops arriving (the client too slow or gone) is an
// apperr.ErrInvalid whose cause, for the log only, is the read error.
func Decode[T any](r *http.Request) (T, error) {
	var v T
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return v, err
	}
	if r.Body == nil { // only on requests built by hand; servers always set one
		return v, invalid("request body is empty")
	}
	// The bytes read are kept for checkKeys; LimitBody caps them.
	var raw bytes.Buffer
	body := &errReader{r: io.TeeReader(r.Body, &raw)}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, decodeError(err, body.err)
	}
	// One value per body: anything after it is a client bug worth reporting,
	// not something to drop silently.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err, ok := tooLarge(err); ok {
			return v, err
		}
		if body.err != nil {
			return v, readFailed(body.err)
		}
		return v, invalid("unexpected data after the JSON value")
	}
	if rv := reflect.ValueOf(&v).Elem(); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return v, invalid("request body must not be null")
	}
	if err := checkKeys(json.NewDecoder(&raw), reflect.TypeFor[T]()); err != nil {
		return v, err
	}
	if val, ok := any(&v).(Validator); ok {
		return v, val.Validate()
	}
	if val, ok := any(v).(Validator); ok {
		return v, val.Validate()
	}
	return v, nil
}

func checkContentType(ct string) error {
	if ct == "" {
		return apperr.New(errUnsupportedMediaType, "Content-Type must be application/json")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return apperr.Errorf(errUnsupportedMediaType, "Content-Type %q is not application/json", ct)
	}
	return nil
}

// errReader remembers the error reading the body failed with, so decodeError
// can tell the network's failures from the client's mistakes.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

func decodeError(err, readErr error) error {
	if err, ok := tooLarge(err); ok {
		return err
	}
	if readErr != nil && errors.Is(err, readErr) {
		return readFailed(readErr)
	}
	if e, ok := errors.AsType[*json.SyntaxError](err); ok {
		// Offset counts the bytes read up to and including the bad one.
		return invalid(fmt.Sprintf("malformed JSON at byte %d: %s", e.Offset, strings.TrimPrefix(e.Error(), "json: ")))
	}
	if e, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		got, value, _ := strings.Cut(e.Value, " ") // "number 300" when out of range
		if value != "" {
			if len(value) > 40 { // the client's own number, which may be a megabyte long
				value = value[:40] + "…"
			}
			if strings.Contains(value, ".") && e.Type.Kind() != reflect.Float32 && e.Type.Kind() != reflect.Float64 {
				return invalid(fmt.Sprintf("field %q: want a whole number, got %s", e.Field, value))
			}
			return invalid(fmt.Sprintf("field %q: %s is out of range for %s", e.Field, value, e.Type))
		}
		if e.Field == "" {
			return invalid(fmt.Sprintf("body: want %s, got %s", jsonType(e.Type), got))
		}
		return invalid(fmt.Sprintf("field %q: want %s, got %s", e.Field, jsonType(e.Type), got))
	}
	switch {
	case errors.Is(err, io.EOF):
		return invalid("request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("malformed JSON: body ends in the middle of a value")
	}
	// encoding/json has no typed error for this one; its message is stable.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return invalid("unknown field " + name)
	}
	if _, ok := errors.AsType[*json.InvalidUnmarshalError](err); ok {
		panic(err) // T cannot be decoded into: a bug, not bad input.
	}
	// Anything else (say, a custom UnmarshalJSON rejecting a value) is about
	// the input. An UnmarshalJSON that chose its client message keeps it.
	if apperr.Message(err) != "" {
		return err
	}
	return invalid(strings.TrimPrefix(err.Error(), "json: "))
}

// ReadBody reads the whole request body, for a handler that needs its bytes
// as sent (a signed webhook). A body over the [LimitBody] cap is an
// apperr.ErrTooLarge (413), one that stops arriving an apperr.ErrInvalid.
func ReadBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		if err, ok := tooLarge(err); ok {
			return nil, err
		}
		return nil, readFailed(err)
	}
	return b, nil
}

func tooLarge(err error) (error, bool) {
	if e, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return apperr.Errorf(apperr.ErrTooLarge, "request body is larger than the %d-byte limit", e.Limit), true
	}
	return err, false
}

// readFailed reports a body that stopped arriving: a slow or broken client
// (ReadTimeout, a reset), not a server fault. The read error names our own
// address, so only the log sees it.
func readFailed(err error) error {
	return apperr.Wrap(err, apperr.ErrInvalid, "reading request body failed before its end")
}

// invalid returns an apperr.ErrInvalid whose message, msg, is what the
// client reads.
func invalid(msg string) error {
	return apperr.New(apperr.ErrInvalid, msg)
}

// jsonType names the JSON type that decodes into t, for messages clients read.
func jsonType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Pointer:
		return jsonType(t.Elem())
	}
	return t.String()
}

// checkKeys walks the JSON value dec holds (already decoded once, so well
// formed) beside t, the type it was decoded into, and refuses what
// encoding/json lets through: a key given twice in one object (the last
// would win, while a proxy or a signature may have read the first), and a
// key that only matches a field when case is folded ("Currency", "ſku" for
// "sku"). Every key must be a field's exact JSON name.
func checkKeys(dec *json.Decoder, t reflect.Type) error {
	tok, err := dec.Token()
	if err != nil {
		return invalid(strings.TrimPrefix(err.Error(), "json: "))
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType)) {
		t = nil // decodes itself: check only for duplicate keys
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return invalid(strings.TrimPrefix(err.Error(), "json: "))
			}
			key := kt.(string)
			if seen[key] {
				return invalid(fmt.Sprintf("field %q is given twice", key))
			}
			seen[key] = true
			var ft reflect.Type
			switch {
			case t == nil || t.Kind() == reflect.Interface:
			case t.Kind() == reflect.Map:
				ft = t.Elem()
			case t.Kind() == reflect.Struct:
				f, ok := jsonField(t, key)
				if !ok {
					return invalid(fmt.Sprintf("unknown field %q", key))
				}
				ft = f
			}
			if err := checkKeys(dec, ft); err != nil {
				return err
			}
		}
		_, err = dec.Token() // '}'
	case json.Delim('['):
		var et reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			et = t.Elem()
		}
		for dec.More() {
			if err := checkKeys(dec, et); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
	}
	if err != nil {
		return invalid(strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// jsonField returns the type of struct t's field whose JSON name is exactly
// name, looking into embedded structs as encoding/json does.
func jsonField(t reflect.Type, name string) (reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if f.Anonymous && tag == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if typ, ok := jsonField(ft, name); ok {
					return typ, true
				}
				continue
			}
		}
		if tag == "" {
			tag = f.Name
		}
		if tag == name {
			return f.Type, true
		}
	}
	return nil, false
}
