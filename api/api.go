// Package api holds the NovaMed Partner API contract, the OpenAPI 3.1
// document api/openapi.yaml, and the bundled Redoc renderer for /docs, all
// embedded into the binary so that the server describes itself offline.
//
// The YAML file is the one source: JSON is derived from it once, preserving
// the order of its keys. A test generates a Go client from it with
// oapi-codegen and runs the quickstart through it (api/genclient); partners
// use the SDK in client/.
package api

//go:generate go run ./internal/gensamples

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"html"
	"strings"
	"sync"
)

//go:embed openapi.yaml
var openapiYAML []byte

//go:embed admin-openapi.yaml
var adminYAML []byte

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

// AdminYAML returns the admin API's own OpenAPI document
// (api/admin-openapi.yaml): every route under /api/admin/, for operators.
func AdminYAML() []byte { return adminYAML }

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

// AssetVersion names the current build of the /docs scripts: the start of
// the SHA-256 of both. The page loads them from
// /docs/assets/{AssetVersion}/…, so a new build is a new URL and a browser
// may keep a version's scripts for as long as it likes.
func AssetVersion() string {
	versionOnce.Do(func() {
		h := sha256.New()
		h.Write(docsJS)
		h.Write(redocJS)
		assetVersion = hex.EncodeToString(h.Sum(nil))[:16]
	})
	return assetVersion
}

var (
	versionOnce  sync.Once
	assetVersion string
)

// DocsPage returns the HTML page of /docs for a server whose public URL
// has path prefix (usually ""): the document and the versioned scripts
// are named by absolute paths, so /docs and /docs/ load the same page.
// The page loads its scripts from this server only, so a
// Content-Security-Policy of script-src 'self' suffices.
func DocsPage(prefix string) []byte {
	r := strings.NewReplacer("{{PREFIX}}", html.EscapeString(strings.TrimRight(prefix, "/")), "{{VERSION}}", AssetVersion())
	return []byte(r.Replace(string(docsHTML)))
}

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
