// Package sdktest runs the Go SDK (module github.com/novamed/partner-api/client)
// against the real Partner API in-process: a SQLite store in a temporary
// folder behind httptest on 127.0.0.1. These tests live in the server module
// so that the SDK's own module depends on the standard library only; the
// SDK's unit and fuzz tests stay in client/.
//
// The package also proves that a partner module importing only the SDK has
// no server dependency in its go.sum (TestPartnerModuleGoSum).
package sdktest
