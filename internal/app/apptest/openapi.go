package apptest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/paths"
	"github.com/pb33f/libopenapi-validator/responses"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
)

// Contract checks the traffic of a test's server against the OpenAPI
// document the server serves, so that the document stays true: every
// request made through [Server.Call], [Server.Do], [Server.CallHeader],
// [Server.DoHeader] or [Server.Want] is checked once its answer is in.
//
//   - The response, always: its status must be documented for the
//     operation (or covered by its `default`), and its content type and body
//     must match what the document says for that status.
//   - The request (parameters, headers, body, security), only when the
//     response is 2xx: tests send bad requests on purpose, and the server
//     refusing them is the point.
//   - A request whose path and method the document does not have (a 404 or
//     405 probe, a test-only route): only an error response is checked,
//     against the Problem schema with the problem+json content type, since
//     every error of the server has that shape.
type Contract struct {
	model   *v3.Document
	v       validator.Validator
	opts    *config.ValidationOptions
	problem *base.Schema
}

// contracts caches one Contract per document, by its SHA-256: many tests
// start servers, and they all serve one of a few documents.
var contracts sync.Map // [sha256.Size]byte → *contractOnce

type contractOnce struct {
	once sync.Once
	c    *Contract
	err  error
}

// ContractFor returns the Contract of doc, an OpenAPI 3.1 document in JSON,
// building it on first use.
func ContractFor(doc []byte) (*Contract, error) {
	e, _ := contracts.LoadOrStore(sha256.Sum256(doc), &contractOnce{})
	co := e.(*contractOnce)
	co.once.Do(func() { co.c, co.err = newContract(doc) })
	return co.c, co.err
}

func newContract(doc []byte) (*Contract, error) {
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	m, err := d.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	c := &Contract{model: &m.Model, opts: config.NewValidationOptions()}
	c.v = validator.NewValidatorFromV3Model(c.model)
	if p, ok := c.model.Components.Schemas.Get("Problem"); ok {
		c.problem = p.Schema()
	}
	if c.problem == nil {
		return nil, fmt.Errorf("openapi document: no components.schemas.Problem")
	}
	return c, nil
}

// Check returns every way the exchange disagrees with the document, each
// naming the method, path and status; none if it agrees. reqBody and
// resBody are the bodies sent and received (the ones in req and res are
// read already).
func (c *Contract) Check(req *http.Request, reqBody []byte, res *http.Response, resBody []byte) []string {
	return c.check(req, reqBody, res, resBody, true)
}

// CheckResponse is Check without the check of the request.
func (c *Contract) CheckResponse(req *http.Request, reqBody []byte, res *http.Response, resBody []byte) []string {
	return c.check(req, reqBody, res, resBody, false)
}

func (c *Contract) check(req *http.Request, reqBody []byte, res *http.Response, resBody []byte, checkRequest bool) []string {
	req = withBody(req, reqBody)
	res = withResponseBody(res, resBody)
	var errs []*liberrors.ValidationError
	item, _, _ := paths.FindPath(req, c.model, c.opts)
	if item == nil || helpers.ExtractOperation(req, item) == nil {
		// Undocumented: only an error's shape can be checked.
		if res.StatusCode >= 400 {
			errs = c.checkProblem(req, res)
		}
	} else {
		_, errs = c.v.ValidateHttpResponse(req, res)
		if checkRequest && res.StatusCode >= 200 && res.StatusCode < 300 {
			_, reqErrs := c.v.ValidateHttpRequestSync(withBody(req, reqBody))
			errs = append(errs, reqErrs...)
		}
	}
	var out []string
	for _, e := range errs {
		out = append(out, fmt.Sprintf("%s %s answered %d: %s", req.Method, req.URL.RequestURI(), res.StatusCode, describe(e)))
	}
	return out
}

func (c *Contract) checkProblem(req *http.Request, res *http.Response) []*liberrors.ValidationError {
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		return []*liberrors.ValidationError{{Message: fmt.Sprintf("content type %q, want application/problem+json", ct)}}
	}
	_, errs := responses.ValidateResponseSchema(&responses.ValidateResponseSchemaInput{
		Request:  req,
		Response: res,
		Schema:   c.problem,
		Version:  3.1,
	})
	return errs
}

func describe(e *liberrors.ValidationError) string {
	s := e.Message
	if e.Reason != "" && e.Reason != e.Message {
		s += " (" + e.Reason + ")"
	}
	for _, se := range e.SchemaValidationErrors {
		s += fmt.Sprintf("; at %s: %s", se.FieldPath, se.Reason)
	}
	return s
}

func withBody(req *http.Request, body []byte) *http.Request {
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return r
}

func withResponseBody(res *http.Response, body []byte) *http.Response {
	r := *res
	r.Body = io.NopCloser(bytes.NewReader(body))
	return &r
}
