package wait

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// Goroutines returns the stacks of the running goroutines that have a frame
// containing any of frames (e.g. "internal/usage.(*Recorder)").
func Goroutines(frames ...string) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, f := range frames {
			if strings.Contains(g, f) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// NoGoroutinesNow fails t if a goroutine with a frame containing any of
// frames is running now: for the frames of work that a Close must have
// waited for (a function that returned before its owner was told is never
// on a stack afterwards).
func NoGoroutinesNow(t testing.TB, frames ...string) {
	t.Helper()
	if left := Goroutines(frames...); len(left) > 0 {
		t.Fatalf("%d goroutine(s) still running after shutdown:\n\n%s", len(left), strings.Join(left, "\n\n"))
	}
}

// NoGoroutines fails t if a goroutine with a frame containing any of frames
// is still running once shutdown is over. A goroutine whose owner saw it
// finish (its deferred close or Done ran) may take a moment to leave the
// scheduler's list, so the check waits for the condition, at most 2 s.
func NoGoroutines(t testing.TB, frames ...string) {
	t.Helper()
	For(2*time.Second, func() bool { return len(Goroutines(frames...)) == 0 })
	NoGoroutinesNow(t, frames...)
}
