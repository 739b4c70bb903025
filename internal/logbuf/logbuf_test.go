package logbuf

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/testenv/wait"
)

type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestInfoBatchedWarningsAtOnceNothingLostOnClose: info lines wait for the
// batch (one write for many lines), a warning writes out everything before
// it at once, and Close writes the rest.
func TestInfoBatchedWarningsAtOnceNothingLostOnClose(t *testing.T) {
	out := &lockedBuffer{}
	w := New(out, time.Hour, 1<<20) // no periodic write during the test
	log := slog.New(NewHandler(slog.NewJSONHandler(w, nil), w))
	for i := 0; i < 100; i++ {
		log.Info("request", "n", i)
	}
	if got := out.String(); got != "" {
		t.Fatalf("info lines written before a flush: %q", got)
	}
	log.Warn("security event", "rule", "x")
	got := out.String()
	if n := strings.Count(got, "\n"); n != 101 || !strings.Contains(got, `"security event"`) {
		t.Fatalf("after a warning: %d lines written, want 101 (100 info lines in order, then the warning)", n)
	}
	if out.writes != 1 {
		t.Errorf("%d writes for 101 lines, want 1", out.writes)
	}
	log.With("k", "v").Info("last")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"msg":"last","k":"v"`) {
		t.Errorf("line logged before Close was lost: %q", out.String())
	}
}

// TestFullBufferAndTickerWrite: a full buffer is written at once, and
// buffered lines reach the output by the periodic write without Close.
func TestFullBufferAndTickerWrite(t *testing.T) {
	out := &lockedBuffer{}
	w := New(out, time.Hour, 64)
	w.Write(bytes.Repeat([]byte("x"), 80)) //nolint:errcheck // never fails
	if len(out.String()) != 80 {
		t.Fatalf("full buffer not written: %q", out.String())
	}
	w.Close()

	out = &lockedBuffer{}
	w = New(out, 5*time.Millisecond, 1<<20)
	defer w.Close()
	w.Write([]byte("line\n")) //nolint:errcheck // never fails
	wait.Until(t, 10*time.Second, func() bool { return out.String() == "line\n" }, "buffered line never written by the periodic write")
}
