// Package api holds the NovaMed Partner API contract, the OpenAPI 3.1
// document api/openapi.yaml, and the bundled Redoc renderer for /docs, all
// embedded into the binary so that the server describes itself offline.
//
// The YAML file is the one source: JSON is derived from it once, preserving
// the order of its keys, and the Go client in api/genclient is generated
// from it (see the go:generate line below).
package api

//go:generate go run ./genclient/gen

import (
	_ "embed"
	"fmt"
	"sync"
)

//go:embed openapi.yaml
var openapiYAML []byte

//go:embed redoc.standalone.js
var redocJS []byte

//go:embed docs.js
var docsJS []byte

//go:embed docs.html
var docsHTML []byte

// RedocVersion is the version of the bundled redoc.standalone.js (npm package redoc).
const RedocVersion = "3.0.1"

// YAML returns the OpenAPI document exactly as maintained.
func YAML() []byte { return openapiYAML }

var (
	jsonOnce sync.Once
	jsonDoc  []byte
	jsonErr  error
)

// JSON returns the OpenAPI document converted to JSON, with the key order
// of the YAML source. It is computed once.
func JSON() ([]byte, error) {
	jsonOnce.Do(func() {
		jsonDoc, jsonErr = yamlToJSON(openapiYAML)
		if jsonErr != nil {
			jsonErr = fmt.Errorf("api: openapi.yaml: %w", jsonErr)
		}
	})
	return jsonDoc, jsonErr
}

// DocsPage returns the HTML page of /docs. It loads its scripts from
// /docs/{asset} only, so a Content-Security-Policy of script-src 'self'
// suffices.
func DocsPage() []byte { return docsHTML }

// DocsAsset returns a script of the /docs page by name and whether it exists.
func DocsAsset(name string) ([]byte, bool) {
	switch name {
	case "redoc.standalone.js":
		return redocJS, true
	case "docs.js":
		return docsJS, true
	}
	return nil, false
}
