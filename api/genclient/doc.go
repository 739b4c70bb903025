// Package genclient is where a Go client generated from api/openapi.yaml by
// oapi-codegen is built and exercised; no generated code is committed.
// Partners use the SDK (module github.com/novamed/partner-api/client).
//
// TestGeneratedClientWorks (in ./gen) generates client.gen.go into a
// temporary folder with the module proxy off, lays it over this folder with
// `go test -overlay`, and runs this package's tests, which carry the build
// tag genclient: the quickstart through the generated client against the
// in-process server. To look at the generated client:
//
//	go run ./api/genclient/gen -o /tmp/genclient
package genclient
