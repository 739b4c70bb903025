package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/novamed/partner-api/internal/novamed"
)

// An operator's error line carries the "novamed: " prefix exactly once.
func TestErrorLineIsPrefixedOnce(t *testing.T) {
	t.Parallel()
	notFound := novamed.NotFound("API key")
	for _, tc := range []struct {
		err  error
		want string
	}{
		{notFound, "novamed: API key not found"},
		{fmt.Errorf("revoke: %w", notFound), "novamed: revoke: API key not found"},
		{errors.New("novamed: production needs a PHI master key"), "novamed: production needs a PHI master key"},
		{errors.New("--clinic \"x\" is not a UUID"), "novamed: --clinic \"x\" is not a UUID"},
	} {
		if got := errorLine(tc.err); got != tc.want {
			t.Errorf("errorLine(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// With --json, a failure is one JSON object: {"error":{"code","message"}}.
func TestErrorJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{novamed.NotFound("API key"), `{"error":{"code":"NOT_FOUND","message":"API key not found"}}`},
		{errors.New("novamed: no NovaMed database at x/novamed.db"), `{"error":{"code":"error","message":"no NovaMed database at x/novamed.db"}}`},
	} {
		if got := errorJSON(tc.err); got != tc.want {
			t.Errorf("errorJSON(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}
