package main

import (
	"testing"

	"github.com/novamed/partner-api/internal/apikey"
)

// forgeKey makes a well-formed key that no server issued.
func forgeKey(t testing.TB, env string) string {
	t.Helper()
	k, err := apikey.Generate(env)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
