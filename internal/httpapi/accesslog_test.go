package httpapi

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"
)

// TestAccessLineMatchesSlog: for the attributes logRequest writes, including
// hostile strings and awkward numbers, appendAccessLine produces exactly
// slog's JSONHandler line.
func TestAccessLineMatchesSlog(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 27, 5, 1, 0, 142950843, time.UTC)
	cases := [][]slog.Attr{
		{slog.String("request_id", "req_5fa42f0a766600e21d5c977c"), slog.String("method", "POST"), slog.String("route", "POST /api/external/patient"),
			slog.Int("status", 200), slog.Float64("duration_ms", 10.499), slog.Int("bytes", 579), slog.String("client", "127.0.0.1"),
			slog.String("key_id", "90ed08d6-dcf9-47ab-9396-c1eca31f2dd8"), slog.String("clinic_id", "550e8400-e29b-41d4-a716-446655440000")},
		{slog.String("q", "a\"b\\c\nd\re\tf\x00g\x1fh<i>&j"), slog.String("u", "é漢\u2028\u2029\xff\xfe"), slog.String("empty", "")},
		{slog.Float64("f0", 0), slog.Float64("f1", 0.001), slog.Float64("f2", 1e-7), slog.Float64("f3", 123456.789), slog.Float64("f4", 1e21), slog.Float64("f5", -2.5)},
		{slog.Int("neg", -42), slog.Int64("big", 1<<62)},
		nil,
	}
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn} {
		for i, attrs := range cases {
			var want bytes.Buffer
			h := slog.NewJSONHandler(&want, nil)
			r := slog.NewRecord(at, level, "request", 0)
			r.AddAttrs(attrs...)
			if err := h.Handle(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			if got := appendAccessLine(nil, at, level, "request", attrs); string(got) != want.String() {
				t.Errorf("case %d, %v:\n got %s\nwant %s", i, level, got, want.String())
			}
		}
	}
}

func BenchmarkAccessLine(b *testing.B) {
	attrs := []slog.Attr{slog.String("request_id", "req_5fa42f0a766600e21d5c977c"), slog.String("method", "GET"), slog.String("route", "GET /api/external/carriers"),
		slog.Int("status", 200), slog.Float64("duration_ms", 0.412), slog.Int("bytes", 579), slog.String("client", "127.0.0.1"),
		slog.String("key_id", "90ed08d6-dcf9-47ab-9396-c1eca31f2dd8"), slog.String("clinic_id", "550e8400-e29b-41d4-a716-446655440000")}
	b.Run("slog", func(b *testing.B) {
		var buf bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&buf, nil))
		for b.Loop() {
			buf.Reset()
			log.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)
		}
	})
	b.Run("appendAccessLine", func(b *testing.B) {
		buf := make([]byte, 0, 512)
		for b.Loop() {
			buf = appendAccessLine(buf[:0], time.Now(), slog.LevelInfo, "request", attrs)
		}
	})
}
