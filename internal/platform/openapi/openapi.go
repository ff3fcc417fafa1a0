// Package openapi builds rightsize's OpenAPI 3.1 document and serves it,
// with an API reference page that renders it.
//
// The document is the platform's base (base.yaml: info, the security
// schemes, the Problem schema and the shared responses, parameters and
// headers, and the platform's own routes) merged with one fragment per
// mounted service. A fragment is a partial OpenAPI 3.1 document in YAML
// that holds only these top-level keys:
//
//	paths:      # the service's routes, one operation per route it registers
//	components: # its own schemas, responses, parameters, ...
//	tags:       # optional: the tags its operations use, with descriptions
//
// It may $ref anything the base defines (#/components/schemas/Problem,
// #/components/responses/NotFound, #/components/parameters/Limit, ...) as
// well as its own components. An operation that needs no credentials says
// so with `security: []`; any other inherits the base's global security
// (an access token or an API key).
//
// [Build] adds what the platform itself answers, so fragments need not
// repeat it: every operation without a default response gets `default:
// Problem` (a 413, a 500, a timeout's 503: any error is problem+json), and
// every operation that requires credentials gets, unless it documents them
// itself, 401 (Unauthorized) and 429 (TooManyRequests: the per-principal
// and per-IP limits of the guard in front of it), and, for methods other
// than GET and HEAD, 403 (Forbidden: a read-only API key).
//
// Two fragments (or a fragment and the base) may define the same path
// operation or component only identically: Build refuses a conflict, naming
// both sides, and a $ref that resolves to nothing, naming the fragment.
package openapi

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed base.yaml
var baseYAML []byte

// Fragment is one service's part of the document.
type Fragment struct {
	// Service names the fragment's owner in errors.
	Service string
	// YAML holds paths, components and tags (see the package documentation).
	YAML []byte
}

// platform names the base in errors.
const platform = "the platform"

// methods are the keys of a path item that are operations.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Build returns the document: the base merged with fragments, as JSON. Its
// error names the fragment at fault (and, for a conflict, the other side).
func Build(fragments ...Fragment) ([]byte, error) {
	doc, err := decode(baseYAML)
	if err != nil {
		return nil, fmt.Errorf("openapi: %s: %w", platform, err)
	}
	m := merger{doc: doc, owner: map[string]string{}}
	m.claim(platform, doc)
	decoded := make([]map[string]any, len(fragments))
	for i, f := range fragments {
		frag, err := decode(f.YAML)
		if err != nil {
			return nil, fmt.Errorf("openapi: service %s: %w", f.Service, err)
		}
		if err := m.merge(f.Service, frag); err != nil {
			return nil, fmt.Errorf("openapi: %w", err)
		}
		decoded[i] = frag
	}
	for i, f := range fragments {
		if err := checkRefs(doc, decoded[i]); err != nil {
			return nil, fmt.Errorf("openapi: service %s: %w", f.Service, err)
		}
	}
	if err := checkRefs(doc, doc); err != nil {
		return nil, fmt.Errorf("openapi: %s: %w", platform, err)
	}
	addPlatformResponses(doc)

	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("openapi: encode: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// decode reads YAML into plain maps with string keys: YAML reads an
// unquoted 200 as an integer key, which JSON cannot have.
func decode(src []byte) (map[string]any, error) {
	var v any
	if err := yaml.Unmarshal(src, &v); err != nil {
		return nil, err
	}
	if v == nil { // empty: a service without routes
		return map[string]any{}, nil
	}
	m, ok := stringKeys(v).(map[string]any)
	if !ok {
		return nil, errors.New("not a YAML mapping")
	}
	return m, nil
}

func stringKeys(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = stringKeys(e)
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = stringKeys(e)
		}
		return m
	case []any:
		for i, e := range v {
			v[i] = stringKeys(e)
		}
	}
	return v
}

// merger merges fragments into doc, remembering who defined what.
type merger struct {
	doc map[string]any
	// owner maps "paths /x get", "components schemas X" and "tags x" to
	// the service that defined it.
	owner map[string]string
}

// claim records the base's own definitions.
func (m *merger) claim(who string, doc map[string]any) {
	for path, item := range mapOf(doc["paths"]) {
		for key := range mapOf(item) {
			m.owner["paths "+path+" "+key] = who
		}
	}
	for section, defs := range mapOf(doc["components"]) {
		for name := range mapOf(defs) {
			m.owner["components "+section+" "+name] = who
		}
	}
	for _, t := range listOf(doc["tags"]) {
		m.owner["tags "+fmt.Sprint(mapOf(t)["name"])] = who
	}
}

func (m *merger) merge(who string, frag map[string]any) error {
	for _, k := range slices.Sorted(maps.Keys(frag)) {
		if k != "paths" && k != "components" && k != "tags" {
			return fmt.Errorf("service %s: top-level key %q: a fragment holds only paths, components and tags", who, k)
		}
	}
	for _, path := range slices.Sorted(maps.Keys(mapOf(frag["paths"]))) {
		item, ok := frag["paths"].(map[string]any)[path].(map[string]any)
		if !ok || !strings.HasPrefix(path, "/") {
			return fmt.Errorf("service %s: paths: %q must be a path starting with / and hold a mapping", who, path)
		}
		into := m.section("paths", path)
		for _, key := range slices.Sorted(maps.Keys(item)) {
			what := key
			if slices.Contains(methods, key) {
				what = strings.ToUpper(key) + " " + path
			} else {
				what = path + " " + key
			}
			if err := m.put(who, "paths "+path+" "+key, what, into, key, item[key]); err != nil {
				return err
			}
		}
	}
	for _, section := range slices.Sorted(maps.Keys(mapOf(frag["components"]))) {
		defs, ok := frag["components"].(map[string]any)[section].(map[string]any)
		if !ok {
			return fmt.Errorf("service %s: components.%s must be a mapping", who, section)
		}
		into := m.section("components", section)
		for _, name := range slices.Sorted(maps.Keys(defs)) {
			if err := m.put(who, "components "+section+" "+name, "components."+section+"."+name, into, name, defs[name]); err != nil {
				return err
			}
		}
	}
	for _, t := range listOf(frag["tags"]) {
		tag := mapOf(t)
		name, _ := tag["name"].(string)
		if name == "" {
			return fmt.Errorf("service %s: tags: every tag needs a name", who)
		}
		key := "tags " + name
		if prev, ok := m.owner[key]; ok {
			i := slices.IndexFunc(listOf(m.doc["tags"]), func(e any) bool { return mapOf(e)["name"] == name })
			if !reflect.DeepEqual(listOf(m.doc["tags"])[i], t) {
				return fmt.Errorf("tag %q is defined by both %s and %s, differently", name, prev, who)
			}
			continue
		}
		m.owner[key] = who
		m.doc["tags"] = append(listOf(m.doc["tags"]), t)
	}
	return nil
}

// section returns doc[top][name], creating it.
func (m *merger) section(top, name string) map[string]any {
	t, ok := m.doc[top].(map[string]any)
	if !ok {
		t = map[string]any{}
		m.doc[top] = t
	}
	s, ok := t[name].(map[string]any)
	if !ok {
		s = map[string]any{}
		t[name] = s
	}
	return s
}

// put sets into[key] = v unless another defined it differently.
func (m *merger) put(who, id, what string, into map[string]any, key string, v any) error {
	if prev, ok := m.owner[id]; ok {
		if reflect.DeepEqual(into[key], v) {
			return nil
		}
		return fmt.Errorf("%s is defined by both %s and %s, differently", what, describe(prev), describe(who))
	}
	m.owner[id] = who
	into[key] = v
	return nil
}

func describe(who string) string {
	if who == platform {
		return who
	}
	return "service " + who
}

// checkRefs reports the first $ref in v that does not resolve in doc.
func checkRefs(doc map[string]any, v any) error {
	var bad error
	walk(v, func(m map[string]any) {
		ref, ok := m["$ref"].(string)
		if !ok || bad != nil {
			return
		}
		if _, found := resolve(doc, ref); !found {
			bad = fmt.Errorf("$ref %q resolves to nothing (only #/... references within the document are allowed)", ref)
		}
	})
	return bad
}

func walk(v any, fn func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		fn(v)
		for _, k := range slices.Sorted(maps.Keys(v)) {
			walk(v[k], fn)
		}
	case []any:
		for _, e := range v {
			walk(e, fn)
		}
	}
}

// resolve follows a local JSON pointer (RFC 6901) in doc.
func resolve(doc map[string]any, ref string) (any, bool) {
	pointer, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, false
	}
	var cur any = doc
	for _, tok := range strings.Split(pointer, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// addPlatformResponses documents on every operation what the platform
// answers whatever the service does (see the package documentation).
func addPlatformResponses(doc map[string]any) {
	for _, item := range mapOf(doc["paths"]) {
		for _, method := range methods {
			op, ok := mapOf(item)[method].(map[string]any)
			if !ok {
				continue
			}
			responses, ok := op["responses"].(map[string]any)
			if !ok {
				responses = map[string]any{}
				op["responses"] = responses
			}
			add := map[string]string{"default": "Problem"}
			if Guarded(op) {
				add["401"] = "Unauthorized"
				add["429"] = "TooManyRequests"
				if method != "get" && method != "head" {
					add["403"] = "Forbidden"
				}
			}
			for code, name := range add {
				if _, ok := responses[code]; !ok {
					responses[code] = map[string]any{"$ref": "#/components/responses/" + name}
				}
			}
		}
	}
}

// Guarded reports whether the operation op (decoded from the document's
// JSON) requires credentials: whether it does not say `security: []`.
func Guarded(op map[string]any) bool {
	s, ok := op["security"]
	return !ok || len(listOf(s)) > 0
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func listOf(v any) []any {
	l, _ := v.([]any)
	return l
}
