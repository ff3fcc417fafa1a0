package app

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/rightsize/rightsize/internal/platform/openapi"
	"github.com/rightsize/rightsize/internal/service"
)

// document builds the OpenAPI document of the services defs: the
// platform's routes and theirs. A service without a fragment adds nothing;
// if it has routes, the test that compares the routes with the document
// says which are missing.
func document(defs []service.Def) ([]byte, error) {
	frags := make([]openapi.Fragment, 0, len(defs))
	for _, d := range defs {
		frags = append(frags, openapi.Fragment{Service: d.Name, YAML: d.OpenAPI})
	}
	return openapi.Build(frags...)
}

// printOpenAPI writes `rightsize openapi`: the document of every service of
// catalog, indented, for linters and client generators.
func printOpenAPI(w io.Writer, catalog []service.Def) error {
	doc, err := document(catalog)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, doc, "", "  "); err != nil {
		return err
	}
	b.WriteByte('\n')
	_, err = b.WriteTo(w)
	return err
}

// OpenAPI returns the OpenAPI document the handler serves at /openapi.json:
// the platform's routes and those of the mounted services.
func (a *App) OpenAPI() []byte { return a.openapi }
