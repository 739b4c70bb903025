// Package logbuf batches log output: lines are gathered in memory and
// written to the underlying writer at most every interval (or when the
// buffer fills), instead of one write system call per line. A server that
// logs one line per request spent a twentieth of its CPU in those calls.
//
// The cost is that lines of the last interval are lost if the process is
// killed. That is acceptable for operational logs only: the audit trail,
// which must not lose anything, is written to the database, not here. Lines
// at warning level and above are written at once (see Handler).
package logbuf

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Writer is an io.Writer that buffers and writes out periodically. It is
// safe for concurrent use.
type Writer struct {
	mu   sync.Mutex
	out  io.Writer
	buf  []byte
	max  int
	err  error
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// New returns a Writer on out that writes buffered lines every interval,
// and whenever more than max bytes are waiting. Close it to write the rest.
func New(out io.Writer, interval time.Duration, max int) *Writer {
	w := &Writer{out: out, max: max, buf: make([]byte, 0, max), stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop(interval)
	return w
}

// Write buffers p (one whole line, as slog writes them).
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) >= w.max {
		w.flushLocked() //nolint:errcheck // kept in w.err, reported by Close
	}
	return len(p), nil
}

// Flush writes out what is buffered and returns the error of that write.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

// flushLocked writes the buffer out; the first error is also kept for Close.
func (w *Writer) flushLocked() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.out.Write(w.buf)
	if err != nil && w.err == nil {
		w.err = err
	}
	w.buf = w.buf[:0]
	return err
}

func (w *Writer) loop(interval time.Duration) {
	defer close(w.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.Flush() //nolint:errcheck // kept in w.err, reported by Close
		case <-w.stop:
			return
		}
	}
}

// Close stops the periodic writes, writes out the rest and returns the
// first write error seen since New.
func (w *Writer) Close() error {
	w.once.Do(func() { close(w.stop) })
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushLocked() //nolint:errcheck // kept in w.err
	return w.err
}

// Handler wraps a slog.Handler writing to w so that records at warning
// level and above are written out at once, not with the next batch.
type Handler struct {
	slog.Handler
	w *Writer
}

// NewHandler returns h flushing w after warnings and errors.
func NewHandler(h slog.Handler, w *Writer) *Handler { return &Handler{Handler: h, w: w} }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := h.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &Handler{Handler: h.Handler.WithAttrs(as), w: h.w}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{Handler: h.Handler.WithGroup(name), w: h.w}
}
