package main

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestServeMemoryDefault: `novamed serve` gets serveMemoryLimit unless
// GOMEMLIMIT is set; other commands keep the runtime's (no limit). Not
// parallel: the limit is the test process's own, restored at the end.
func TestServeMemoryDefault(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	for _, c := range []struct {
		args []string
		vars map[string]string
		want int64
	}{
		{[]string{"serve", "--addr", "127.0.0.1:0"}, nil, serveMemoryLimit},
		{[]string{"serve"}, map[string]string{"GOMEMLIMIT": "1GiB"}, math.MaxInt64},
		{[]string{"audit", "verify"}, nil, math.MaxInt64},
		{nil, nil, math.MaxInt64},
	} {
		debug.SetMemoryLimit(math.MaxInt64)
		serveMemoryDefault(c.args, env(c.vars))
		if got := debug.SetMemoryLimit(-1); got != c.want {
			t.Errorf("%v with %v: memory limit %d, want %d", c.args, c.vars, got, c.want)
		}
	}
}
