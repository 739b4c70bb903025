package main

import (
	"testing"

	"github.com/novamed/partner-api/internal/testenv/wait"
)

// serveLoops are the frames of every background loop serve starts (the
// checkpointer, the keyring watcher, the sandbox, the readiness watch, the
// key-change follower, the webhook worker, the metrics gauge) and of the
// components that own goroutines (the API's purge loop, the usage
// recorder and its lookups).
var serveLoops = []string{
	"server.Owned", "server.watchKeyring", "server.(*checkpointer).run", "server.followKeyChanges",
	"sandbox.Run", "webhook.(*Worker).Run", "httpapi.(*Server).WatchReadiness", "httpapi.(*Server).flushLoop",
	"usage.(*Recorder)",
}

// TestServeLeavesNoGoroutine: when serve returns, every goroutine it
// started has returned too (each has an owner that waits for it).
func TestServeLeavesNoGoroutine(t *testing.T) {
	ts := startServer(t, "development", "--metrics-addr", "127.0.0.1:0", "--sandbox", "on", "--sandbox-step", "50ms")
	if r := ts.req("GET", "/api/external/me", ts.Key, nil); r.Status != 200 {
		t.Fatalf("me: %d", r.Status)
	}
	if len(wait.Goroutines(serveLoops...)) == 0 {
		t.Fatal("no background loop found while serving: the frame names are stale")
	}
	ts.stop()
	wait.NoGoroutines(t, serveLoops...)
}
