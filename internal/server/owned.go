package server

import "context"

// Owned runs fn in a goroutine that its caller owns: the returned stop
// cancels fn's context and waits for fn to return. It is the server's one
// shutdown idiom: every background loop is started with it and its stop is
// pushed on the server's closers, so the loops stop in the reverse order of
// their start (the checkpointer, started before the audit writer, signs
// after it flushed) and none outlives Close.
func Owned(ctx context.Context, fn func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}
