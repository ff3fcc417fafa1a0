package openapi

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"github.com/rightsize/rightsize/internal/platform/httpx"
)

// DocumentCacheControl lets clients and shared caches keep the document a
// minute: it changes only with a deploy, and a minute is short enough for a
// deploy to show at once.
const DocumentCacheControl = "public, max-age=60"

// DocsCacheControl is the reference page's and its assets'.
const DocsCacheControl = "public, max-age=300"

// DocsCSP is the Content-Security-Policy of the reference page and its
// assets: scripts from this origin only (the page has no inline script),
// calls to this origin only, so "Try it out" cannot reach anything else.
// Styles also allow 'unsafe-inline', because Swagger UI (React) sets style
// attributes on the elements it renders; images allow data: URLs, which its
// style sheet uses for icons.
const DocsCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

// DocumentHandler serves doc, as Build made it, as GET /openapi.json.
func DocumentHandler(doc []byte) http.Handler {
	return staticFile{body: doc, contentType: "application/json", cacheControl: DocumentCacheControl, etag: etag(doc)}
}

//go:embed docs/index.html docs/init.js docs/swagger-ui-bundle.js docs/swagger-ui.css
var docsFiles embed.FS

// docsAssets are the files under /docs/, by name.
var docsAssets = map[string]staticFile{
	"swagger-ui-bundle.js": docsFile("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
	"swagger-ui.css":       docsFile("swagger-ui.css", "text/css; charset=utf-8"),
	"init.js":              docsFile("init.js", "text/javascript; charset=utf-8"),
}

// DocsHandler serves the reference page, as GET /docs: Swagger UI rendering
// /openapi.json, from assets embedded in the binary.
func DocsHandler() http.Handler {
	return docsFile("index.html", "text/html; charset=utf-8")
}

// DocsAssetHandler serves the page's assets, as GET /docs/{file}: the file
// path value names one; any other name is a 404.
func DocsAssetHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := docsAssets[r.PathValue("file")]
		if !ok {
			httpx.Problem(w, r, http.StatusNotFound, "no such file under /docs/")
			return
		}
		f.ServeHTTP(w, r)
	})
}

func docsFile(name, contentType string) staticFile {
	b, err := docsFiles.ReadFile("docs/" + name)
	if err != nil {
		panic(err) // embedded above
	}
	return staticFile{body: b, contentType: contentType, cacheControl: DocsCacheControl, csp: DocsCSP, etag: etag(b)}
}

// staticFile is a body fixed at start-up, revalidated by its ETag.
type staticFile struct {
	body                            []byte
	contentType, cacheControl, etag string
	// csp replaces the default policy of httpx.SecurityHeaders, if set.
	csp string
}

func (f staticFile) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Replaces SecurityHeaders' no-store: nothing here is personal.
	h.Set("Cache-Control", f.cacheControl)
	h.Set("ETag", f.etag)
	if f.csp != "" {
		h.Set("Content-Security-Policy", f.csp)
	}
	if matches(r.Header.Get("If-None-Match"), f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", f.contentType)
	h.Set("Content-Length", strconv.Itoa(len(f.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(f.body)
	}
}

func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
}

// matches reports whether an If-None-Match header lists etag (or is *),
// comparing weakly as RFC 9110 §13.1.2 says.
func matches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
