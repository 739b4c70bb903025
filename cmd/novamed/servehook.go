package main

import (
	"context"
	"time"

	"github.com/novamed/partner-api/internal/server"
)

// servedKey marks, in run's context, a function that serve hands the
// server it built, before it listens. The tests put one there to reach
// what a process cannot be asked from outside: the usage recorder's Sync,
// so that "no security event was raised" is asserted after a flush
// instead of after a guessed wait.
type servedKey struct{}

// withServed returns ctx carrying fn for serve.
func withServed(ctx context.Context, fn func(*server.Server)) context.Context {
	return context.WithValue(ctx, servedKey{}, fn)
}

// announceServed hands srv to the function ctx carries, if any.
func announceServed(ctx context.Context, srv *server.Server) {
	if fn, ok := ctx.Value(servedKey{}).(func(*server.Server)); ok && fn != nil {
		fn(srv)
	}
}

// serveClockKey marks, in run's context, the clock serve's server runs on
// (server.Config.Now): a test that checks a rule about time windows moves
// it by hand instead of waiting for the windows to pass.
type serveClockKey struct{}

// withServeClock returns ctx carrying now for serve.
func withServeClock(ctx context.Context, now func() time.Time) context.Context {
	return context.WithValue(ctx, serveClockKey{}, now)
}

// serveClock is the clock ctx carries, or nil (the server's default:
// time.Now).
func serveClock(ctx context.Context) func() time.Time {
	now, _ := ctx.Value(serveClockKey{}).(func() time.Time)
	return now
}
