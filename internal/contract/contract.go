// Package contract checks HTTP traffic against the API's OpenAPI document
// (api/openapi.yaml) with kin-openapi. It is test support: the end-to-end
// suite validates every request it sends and every response it receives,
// so the document cannot drift from what the server does.
//
// Responses are checked strictly: the status must be documented for the
// operation, required headers must be present, and the body must match the
// schema, whose objects forbid undocumented properties. A response to a
// path the document does not describe must be the 404/405 error envelope.
package contract

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/novamed/partner-api/api"
)

// ErrNoRoute reports a request whose method and path the document does not
// describe (the server answers those 404 ROUTE_NOT_FOUND or 405).
var ErrNoRoute = errors.New("contract: no documented operation for this method and path")

var (
	loadOnce sync.Once
	loaded   *openapi3.T
	router   routers.Router
	loadErr  error

	// mu serialises validation (the suite sends requests from many
	// goroutines) and guards compiled.
	mu sync.Mutex
	// compiler holds the whole document as one JSON Schema 2020-12 resource,
	// so that a body schema is compiled once, by its JSON pointer, with its
	// $refs resolved in place. (kin-openapi compiles a body schema again on
	// every validation, which costs milliseconds and a megabyte per large
	// request: too much for every exchange of the suite.)
	compiler *jsonschema.Compiler
	compiled = map[string]*jsonschema.Schema{}
)

// resourceURL names the document inside the JSON Schema compiler.
const resourceURL = "https://contract.invalid/openapi.json"

// Document returns the loaded and validated OpenAPI document. Its servers
// are cleared so that requests to any host (a test server's random port)
// match by path alone.
func Document() (*openapi3.T, error) {
	loadOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(api.YAML())
		if err != nil {
			loadErr = fmt.Errorf("contract: load api/openapi.yaml: %w", err)
			return
		}
		if err := doc.Validate(loader.Context); err != nil {
			loadErr = fmt.Errorf("contract: api/openapi.yaml is not a valid OpenAPI document: %w", err)
			return
		}
		doc.Servers = nil
		r, err := legacy.NewRouter(doc)
		if err != nil {
			loadErr = fmt.Errorf("contract: router: %w", err)
			return
		}
		js, err := api.JSON()
		if err != nil {
			loadErr = err
			return
		}
		whole, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
		if err != nil {
			loadErr = fmt.Errorf("contract: %w", err)
			return
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		c.AssertFormat()
		if err := c.AddResource(resourceURL, whole); err != nil {
			loadErr = fmt.Errorf("contract: %w", err)
			return
		}
		loaded, router, compiler = doc, r, c
	})
	return loaded, loadErr
}

// find returns the documented operation of req. It routes on the escaped
// path, as the server does, so that an encoded slash stays inside its
// path segment.
func find(req *http.Request) (*routers.Route, map[string]string, error) {
	if _, err := Document(); err != nil {
		return nil, nil, err
	}
	// The server answers a path with "." or ".." segments or "//" as an
	// unknown route, whatever it would match once cleaned.
	if p := req.URL.Path; p != "/" && path.Clean(p) != p && path.Clean(p)+"/" != p {
		return nil, nil, fmt.Errorf("%w: %s %s (not a clean path)", ErrNoRoute, req.Method, p)
	}
	u := *req.URL
	if p := req.URL.EscapedPath(); p != u.Path {
		u.Path, u.RawPath = p, ""
	}
	probe := &http.Request{Method: req.Method, URL: &u, Header: req.Header}
	route, params, err := router.FindRoute(probe)
	if err != nil {
		var re *routers.RouteError
		if errors.As(err, &re) {
			return nil, nil, fmt.Errorf("%w: %s %s", ErrNoRoute, req.Method, req.URL.Path)
		}
		return nil, nil, err
	}
	for k, v := range params {
		if s, err := url.PathUnescape(v); err == nil {
			params[k] = s
		}
	}
	return route, params, nil
}

// options are the validation options of every check. The x-api-key
// security scheme is satisfied by a non-empty header; whether the key is
// good is the server's business (it answers 401, which is documented).
func options() *openapi3filter.Options {
	return &openapi3filter.Options{
		IncludeResponseStatus: true,
		MultiError:            true,
		AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
			s := in.SecurityScheme
			if s == nil || s.Type != "apiKey" || s.In != "header" {
				return fmt.Errorf("unsupported security scheme %q", in.SecuritySchemeName)
			}
			if strings.TrimSpace(in.RequestValidationInput.Request.Header.Get(s.Name)) == "" {
				return fmt.Errorf("header %s is missing", s.Name)
			}
			return nil
		},
	}
}

// ValidateRequest checks a request (its method, path, parameters, security
// and body) against the document. body is the request body (nil for none);
// req.Body is not read. A request to an undocumented method and path
// returns an error wrapping ErrNoRoute.
func ValidateRequest(req *http.Request, body []byte) error {
	route, params, err := find(req)
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	in := requestInput(req, body, route, params)
	in.Options.ExcludeRequestBody = true
	err = openapi3filter.ValidateRequest(context.Background(), in)
	if err == nil {
		err = validateRequestBody(pointer("paths", route.Path, strings.ToLower(route.Method)), route.Operation, req.Header, body)
	}
	if err != nil {
		return fmt.Errorf("contract: request %s %s does not match the document: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

func requestInput(req *http.Request, body []byte, route *routers.Route, params map[string]string) *openapi3filter.RequestValidationInput {
	r := req.Clone(context.Background())
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	} else {
		r.Body = http.NoBody
	}
	return &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: options()}
}

// ValidateResponse checks a response to req against the document: the
// status must be documented for the operation, documented headers present
// and well-formed, and the body must match the schema of its media type. A
// response to an undocumented method and path must be the error envelope
// with 404 ROUTE_NOT_FOUND or 405 METHOD_NOT_ALLOWED. In every error
// envelope, error.request_id must equal the X-Request-Id header.
func ValidateResponse(req *http.Request, status int, header http.Header, body []byte) error {
	if header.Get("Content-Encoding") == "gzip" && len(body) > 0 {
		// The document's bodies are those before the content coding.
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("contract: response %d to %s %s: Content-Encoding gzip but not gzip: %w", status, req.Method, req.URL.Path, err)
		}
		if body, err = io.ReadAll(zr); err != nil {
			return fmt.Errorf("contract: response %d to %s %s: bad gzip: %w", status, req.Method, req.URL.Path, err)
		}
	}
	route, params, err := find(req)
	if errors.Is(err, ErrNoRoute) {
		return validateUnmatched(req, status, header, body)
	}
	if err != nil {
		return err
	}
	if err := requestIDMatches(header, body); err != nil {
		return fmt.Errorf("contract: response %d to %s %s: %w", status, req.Method, req.URL.Path, err)
	}
	mu.Lock()
	defer mu.Unlock()
	opts := options()
	opts.ExcludeResponseBody = true
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: requestInput(req, nil, route, params),
		Status:                 status,
		Header:                 header,
		Options:                opts,
	}
	in.SetBodyBytes(body)
	err = openapi3filter.ValidateResponse(context.Background(), in)
	if err == nil {
		err = validateResponseBody(pointer("paths", route.Path, strings.ToLower(route.Method)), route.Operation, status, header, body)
	}
	if err != nil {
		return fmt.Errorf("contract: response %d to %s %s does not match the document: %w\nbody: %.2000s", status, req.Method, req.URL.Path, err, body)
	}
	return nil
}

// validateResponseBody checks a response body against the operation's
// response for status (ValidateResponse has checked that it exists). Call
// with mu held.
func validateResponseBody(base string, op *openapi3.Operation, status int, header http.Header, body []byte) error {
	code := strconv.Itoa(status)
	ref := op.Responses.Value(code)
	if ref == nil {
		code, ref = "default", op.Responses.Default()
	}
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("status %d is not documented", status)
	}
	if len(ref.Value.Content) == 0 {
		return nil
	}
	ct := header.Get("Content-Type")
	key, mt := mediaTypeKey(ref.Value.Content, ct)
	if mt == nil {
		return fmt.Errorf("response Content-Type %q is not documented for %d", ct, status)
	}
	if mt.Schema == nil || !isJSON(key) {
		return nil
	}
	return validateBody(refOr(ref.Ref, base+pointer("responses", code)[1:])+pointer("content", key, "schema")[1:], body)
}

// validateUnmatched checks the answer to a method and path the document
// does not describe.
func validateUnmatched(req *http.Request, status int, header http.Header, body []byte) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("contract: response %d to undocumented %s %s: %s\nbody: %.2000s", status, req.Method, req.URL.Path, fmt.Sprintf(format, args...), body)
	}
	want := map[int]string{http.StatusNotFound: "ROUTE_NOT_FOUND", http.StatusMethodNotAllowed: "METHOD_NOT_ALLOWED"}[status]
	if want == "" {
		return fail("only 404 and 405 are possible here")
	}
	if header.Get("X-Request-Id") == "" {
		return fail("no X-Request-Id header")
	}
	doc, err := Document()
	if err != nil {
		return err
	}
	if doc.Components.Schemas["ErrorEnvelope"] == nil {
		return fail("the document has no ErrorEnvelope schema")
	}
	mu.Lock()
	err = validateBody(pointer("components", "schemas", "ErrorEnvelope"), body)
	mu.Unlock()
	if err != nil {
		return fail("not the error envelope: %v", err)
	}
	var env struct{ Error struct{ Code string } }
	if err := json.Unmarshal(body, &env); err != nil || env.Error.Code != want {
		return fail("error.code %q, want %s", env.Error.Code, want)
	}
	return requestIDMatches(header, body)
}

// requestIDMatches checks that an error envelope repeats X-Request-Id. An
// idempotent replay is exempt: its body is the original answer, byte for
// byte, so it names the original request.
func requestIDMatches(header http.Header, body []byte) error {
	if header.Get("Idempotent-Replayed") == "true" {
		return nil
	}
	var env struct {
		Success *bool `json:"success"`
		Error   *struct {
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) != nil || env.Success == nil || *env.Success || env.Error == nil {
		return nil
	}
	if id := header.Get("X-Request-Id"); env.Error.RequestID != id {
		return fmt.Errorf("error.request_id %q differs from X-Request-Id %q", env.Error.RequestID, id)
	}
	return nil
}

// CheckRequest applies the request half of the end-to-end suite's rule: a
// request is checked when the document can judge it, that is when its
// method and path are documented and it has no body or a body that is
// valid JSON labelled application/json. Requests a test breaks on purpose
// at the transport level (another Content-Type, broken or empty JSON, an
// undocumented route) are not checked (checked is false); their responses
// still are. err is what the document finds wrong with a checked request.
func CheckRequest(req *http.Request, body []byte, hasBody bool) (checked bool, err error) {
	if hasBody {
		mt, _, perr := mime.ParseMediaType(req.Header.Get("Content-Type"))
		if perr != nil || mt != "application/json" || !json.Valid(body) {
			return false, nil
		}
	} else {
		body = nil
	}
	err = ValidateRequest(req, body)
	if errors.Is(err, ErrNoRoute) {
		return false, nil
	}
	return true, err
}

// CheckExchange applies the response half: the response must match the
// document (ValidateResponse), and a checked request that the document
// refuses (reqErr) must have been refused by the server with a 4xx. A
// request the document accepts may still be refused for reasons no schema
// can see (duplicates, unknown ids, business rules); that is no mismatch.
func CheckExchange(req *http.Request, reqChecked bool, reqErr error, status int, header http.Header, body []byte) error {
	if err := ValidateResponse(req, status, header, body); err != nil {
		return err
	}
	if reqChecked && reqErr != nil && (status < 400 || status >= 500) {
		return fmt.Errorf("contract: the server answered %d to %s %s, which api/openapi.yaml refuses: %w", status, req.Method, req.URL.Path, reqErr)
	}
	return nil
}

// ValidateWebhook checks a webhook delivery NovaMed sent (its headers and
// body) against the document's webhooks entry for the event's name.
func ValidateWebhook(event string, header http.Header, body []byte) error {
	doc, err := Document()
	if err != nil {
		return err
	}
	item := doc.Webhooks[event]
	if item == nil || item.Post == nil {
		return fmt.Errorf("contract: webhook event %q is not documented", event)
	}
	req, err := http.NewRequest(http.MethodPost, "http://receiver.invalid/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = header.Clone()
	route := &routers.Route{Spec: doc, Path: event, PathItem: item, Method: http.MethodPost, Operation: item.Post}
	mu.Lock()
	defer mu.Unlock()
	opts := options()
	opts.ExcludeRequestBody = true
	in := &openapi3filter.RequestValidationInput{Request: req, Route: route, Options: opts}
	err = openapi3filter.ValidateRequest(context.Background(), in)
	if err == nil {
		err = validateRequestBody(pointer("webhooks", event, "post"), item.Post, header, body)
	}
	if err != nil {
		return fmt.Errorf("contract: webhook %s does not match the document: %w\nbody: %.2000s", event, err, body)
	}
	return nil
}

// pointer builds a JSON pointer from unescaped tokens.
func pointer(tokens ...string) string {
	var b strings.Builder
	b.WriteString("#")
	for _, t := range tokens {
		b.WriteString("/")
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// refOr returns the pointer of a $ref (a component) or else the pointer of
// the inline object.
func refOr(ref, inline string) string {
	if ref != "" {
		return ref
	}
	return inline
}

// validateBody checks a JSON body against the schema at a JSON pointer of
// the document; the compiled schema is cached. Call with mu held.
func validateBody(ptr string, body []byte) error {
	sch, ok := compiled[ptr]
	if !ok {
		var err error
		if sch, err = compiler.Compile(resourceURL + ptr); err != nil {
			return fmt.Errorf("schema %s does not compile: %w", ptr, err)
		}
		compiled[ptr] = sch
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("body does not match %s: %w", ptr, err)
	}
	return nil
}

// mediaTypeKey returns the key of content that matches a Content-Type
// header (a parameter such as charset does not matter).
func mediaTypeKey(content openapi3.Content, contentType string) (string, *openapi3.MediaType) {
	mt := content.Get(contentType)
	if mt == nil {
		return "", nil
	}
	for k, v := range content {
		if v == mt {
			return k, v
		}
	}
	return "", nil
}

// isJSON reports whether a media type is JSON.
func isJSON(mediaType string) bool {
	mt, _, err := mime.ParseMediaType(mediaType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// validateRequestBody checks a request body against an operation's
// requestBody at base (the pointer of the operation). Call with mu held.
func validateRequestBody(base string, op *openapi3.Operation, header http.Header, body []byte) error {
	if op.RequestBody == nil || op.RequestBody.Value == nil {
		return nil
	}
	rb := op.RequestBody.Value
	if body == nil {
		if rb.Required {
			return errors.New("the request body is required")
		}
		return nil
	}
	key, mt := mediaTypeKey(rb.Content, header.Get("Content-Type"))
	if mt == nil {
		return fmt.Errorf("request Content-Type %q is not documented", header.Get("Content-Type"))
	}
	if mt.Schema == nil || !isJSON(key) {
		return nil
	}
	return validateBody(refOr(op.RequestBody.Ref, base+pointer("requestBody")[1:])+pointer("content", key, "schema")[1:], body)
}
