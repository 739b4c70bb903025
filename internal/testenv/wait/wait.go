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

// The first poll comes 5 ms after the first ask and each later one 1.5
// times as long after the previous, up to 50 ms: a wait ends soon after a
// quick condition holds, and a slow one is asked ~25 times a second, not
// 200 (a condition that calls the API with a key would otherwise meet the
// key's rate limit within a second: TestSandboxWalksOrdersToDelivered did,
// on PostgreSQL).
const (
	firstPoll = 5 * time.Millisecond
	maxPoll   = 50 * time.Millisecond
)

// For polls cond until it holds or d has passed, and reports whether it
// held.
func For(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	interval := firstPoll
	t := time.NewTimer(interval)
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
		if interval = interval * 3 / 2; interval > maxPoll {
			interval = maxPoll
		}
		t.Reset(interval)
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
