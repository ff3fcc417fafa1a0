package openapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"

	"github.com/rightsize/rightsize/internal/platform/httpx"
	"github.com/rightsize/rightsize/internal/platform/openapi"
)

const notes = `
paths:
  /v1/notes:
    get:
      operationId: listNotes
      summary: List notes
      responses:
        "200":
          description: Notes.
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/Note"
components:
  schemas:
    Note:
      type: object
      properties:
        id: {type: string}
`

// The document is JSON that libopenapi reads as OpenAPI 3.1 without error,
// with the fragment's paths and the platform's, and what the platform adds
// to every guarded operation.
func TestBuildParses(t *testing.T) {
	t.Parallel()
	doc, err := openapi.Build(openapi.Fragment{Service: "notes", YAML: []byte(notes)})
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(doc) {
		t.Fatal("not valid JSON")
	}
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	if v := d.GetVersion(); v != "3.1.0" {
		t.Errorf("version %q, want 3.1.0", v)
	}
	m, err := d.BuildV3Model()
	if err != nil {
		t.Fatalf("BuildV3Model: %v", err)
	}
	for _, p := range []string{"/health", "/ready", "/openapi.json", "/docs", "/docs/{file}", "/v1/notes"} {
		if _, ok := m.Model.Paths.PathItems.Get(p); !ok {
			t.Errorf("no path %s", p)
		}
	}
	item, _ := m.Model.Paths.PathItems.Get("/v1/notes")
	for _, code := range []string{"200", "401", "429"} {
		if _, ok := item.Get.Responses.Codes.Get(code); !ok {
			t.Errorf("GET /v1/notes: no %s response", code)
		}
	}
	if item.Get.Responses.Default == nil {
		t.Error("GET /v1/notes: no default response")
	}
	health, _ := m.Model.Paths.PathItems.Get("/health")
	if _, ok := health.Get.Responses.Codes.Get("401"); ok || health.Get.Security == nil || len(health.Get.Security) != 0 {
		t.Errorf("GET /health: want public (security: []) and no 401, got security %v", health.Get.Security)
	}
}

// A path operation or component defined twice differently is refused, the
// error naming both definers; defined twice identically, it is accepted.
func TestBuildRefusesConflicts(t *testing.T) {
	t.Parallel()
	other := strings.ReplaceAll(notes, "id: {type: string}", "id: {type: integer}")
	tests := []struct {
		name  string
		frags []openapi.Fragment
		want  []string // in the error; none: no error
	}{
		{"identical", []openapi.Fragment{{"notes", []byte(notes)}, {"copy", []byte(notes)}}, nil},
		{"component", []openapi.Fragment{
			{"notes", []byte(notes)},
			{"tasks", []byte(strings.ReplaceAll(other, "/v1/notes", "/v1/tasks"))},
		}, []string{"components.schemas.Note", "service notes", "service tasks"}},
		{"operation", []openapi.Fragment{
			{"notes", []byte(notes)},
			{"tasks", []byte(strings.ReplaceAll(strings.ReplaceAll(notes, "Note", "Task"), "List notes", "List tasks"))},
		}, []string{"GET /v1/notes", "service notes", "service tasks"}},
		{"platform's component", []openapi.Fragment{
			{"notes", []byte("components:\n  schemas:\n    Problem: {type: string}\n")},
		}, []string{"components.schemas.Problem", "the platform", "service notes"}},
		{"platform's route", []openapi.Fragment{
			{"notes", []byte("paths:\n  /health:\n    get:\n      summary: mine\n      responses: {}\n")},
		}, []string{"GET /health", "the platform", "service notes"}},
		{"dangling $ref", []openapi.Fragment{
			{"notes", []byte(strings.ReplaceAll(notes, "schemas/Note\"", "schemas/Nope\""))},
		}, []string{"service notes", "#/components/schemas/Nope"}},
		{"unknown top-level key", []openapi.Fragment{{"notes", []byte("info: {title: x}\n")}}, []string{"service notes", "info"}},
		{"bad YAML", []openapi.Fragment{{"notes", []byte("paths: [")}}, []string{"service notes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := openapi.Build(tt.frags...)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatal("got no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

func serve(t *testing.T, h http.Handler, pattern, path string, header http.Header) *http.Response {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(pattern, h)
	srv := httptest.NewServer(httpx.Chain(httpx.Routes(mux), httpx.SecurityHeaders(), httpx.RequestID()))
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest("GET", srv.URL+path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// The reference page and its assets: the right types, a CSP that allows
// scripts and calls from this origin only, cacheable, revalidated by ETag;
// an unknown asset is a problem+json 404.
func TestDocs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern string
		h       http.Handler
		path    string
		status  int
		ctype   string
	}{
		{"GET /docs", openapi.DocsHandler(), "/docs", 200, "text/html; charset=utf-8"},
		{"GET /docs/{file}", openapi.DocsAssetHandler(), "/docs/swagger-ui-bundle.js", 200, "text/javascript; charset=utf-8"},
		{"GET /docs/{file}", openapi.DocsAssetHandler(), "/docs/init.js", 200, "text/javascript; charset=utf-8"},
		{"GET /docs/{file}", openapi.DocsAssetHandler(), "/docs/swagger-ui.css", 200, "text/css; charset=utf-8"},
		{"GET /docs/{file}", openapi.DocsAssetHandler(), "/docs/LICENSE", 404, httpx.ContentTypeProblem},
		{"GET /docs/{file}", openapi.DocsAssetHandler(), "/docs/index.html", 404, httpx.ContentTypeProblem},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			res := serve(t, tt.h, tt.pattern, tt.path, nil)
			if res.StatusCode != tt.status || res.Header.Get("Content-Type") != tt.ctype {
				t.Fatalf("got %d %q, want %d %q", res.StatusCode, res.Header.Get("Content-Type"), tt.status, tt.ctype)
			}
			if tt.status != 200 {
				return
			}
			h := res.Header
			if h.Get("Content-Security-Policy") != openapi.DocsCSP {
				t.Errorf("CSP %q, want %q", h.Get("Content-Security-Policy"), openapi.DocsCSP)
			}
			for _, want := range []string{"default-src 'none'", "script-src 'self';", "connect-src 'self';", "frame-ancestors 'none'"} {
				if !strings.Contains(openapi.DocsCSP+";", want) {
					t.Errorf("CSP %q lacks %q", openapi.DocsCSP, want)
				}
			}
			if h.Get("Cache-Control") != openapi.DocsCacheControl || h.Get("ETag") == "" {
				t.Errorf("Cache-Control %q, ETag %q; want %q and an ETag", h.Get("Cache-Control"), h.Get("ETag"), openapi.DocsCacheControl)
			}
			again := serve(t, tt.h, tt.pattern, tt.path, http.Header{"If-None-Match": {h.Get("ETag")}})
			if again.StatusCode != http.StatusNotModified {
				t.Errorf("with If-None-Match: got %d, want 304", again.StatusCode)
			}
		})
	}

	// Nothing the page loads comes from elsewhere, and it has no inline script.
	res := serve(t, openapi.DocsHandler(), "GET /docs", "/docs", nil)
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	page := string(body)
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") || strings.Contains(page, "<script>") || strings.Contains(page, "<style") {
		t.Errorf("the page loads from elsewhere or has inline code:\n%s", page)
	}
}

// /openapi.json is the document, as JSON, cacheable briefly.
func TestDocumentHandler(t *testing.T) {
	t.Parallel()
	doc, err := openapi.Build()
	if err != nil {
		t.Fatal(err)
	}
	res := serve(t, openapi.DocumentHandler(doc), "GET /openapi.json", "/openapi.json", nil)
	var v map[string]any
	if err := json.NewDecoder(res.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" ||
		res.Header.Get("Cache-Control") != openapi.DocumentCacheControl || v["openapi"] != "3.1.0" {
		t.Errorf("got %d %v, openapi %v", res.StatusCode, res.Header, v["openapi"])
	}
	again := serve(t, openapi.DocumentHandler(doc), "GET /openapi.json", "/openapi.json", http.Header{"If-None-Match": {res.Header.Get("ETag")}})
	if again.StatusCode != http.StatusNotModified {
		t.Errorf("with If-None-Match: got %d, want 304", again.StatusCode)
	}
}
