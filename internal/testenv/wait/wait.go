// Package wait is how tests wait: for a condition, polled until a
// deadline, instead of sleeping for a guessed time. It imports only the
// standard library, so the tests of every package may use it.
package wait

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// poll is how often a condition is asked: short, so a wait ends soon after
// the condition holds, and long enough not to busy-spin.
const poll = 5 * time.Millisecond

// For polls cond until it holds or d has passed, and reports whether it
// held.
func For(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		runtime.Gosched()
		<-t.C
	}
}

// Until polls cond until it holds, and fails t (with what, formatted with
// args) when it has not within d.
func Until(t testing.TB, d time.Duration, cond func() bool, what string, args ...any) {
	t.Helper()
	if !For(d, cond) {
		t.Fatalf("waited %s: %s", d, fmt.Sprintf(what, args...))
	}
}

// UntilNil polls fn until it returns nil, and fails t with fn's last error
// when it has not within d.
func UntilNil(t testing.TB, d time.Duration, fn func() error) {
	t.Helper()
	var err error
	if !For(d, func() bool { err = fn(); return err == nil }) {
		t.Fatalf("waited %s: %v", d, err)
	}
}
