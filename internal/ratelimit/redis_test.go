package ratelimit

import (
	"context"
	"crypto/rand"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// testRedisAddr is the Redis that the Redis tests use.
const testRedisAddr = "127.0.0.1:6379"

// newTestRedis connects to the test Redis and returns a client and a key
// prefix unique to this call. It deletes the prefix's keys and closes the
// client when t ends. Without a Redis it skips t, or fails it when CI=true.
func newTestRedis(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	client := redis.NewClient(&redis.Options{Addr: testRedisAddr, MaxRetries: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		msg := "REDIS NOT AVAILABLE: cannot reach " + testRedisAddr + ": " + err.Error()
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	prefix := "novamed-test-" + rand.Text() + ":"
	tb.Cleanup(func() {
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := client.Scan(ctx, 0, prefix+"*", 100).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			tb.Errorf("scanning test keys %s*: %v", prefix, err)
			return
		}
		if len(keys) > 0 {
			if err := client.Del(ctx, keys...).Err(); err != nil {
				tb.Errorf("deleting test keys %s*: %v", prefix, err)
			}
		}
	})
	return client, prefix
}

func TestRedis(t *testing.T) {
	newRedis := func(t *testing.T) Limiter {
		client, prefix := newTestRedis(t)
		return NewRedis(client, prefix)
	}
	testLimiter(t, harness{
		newLimiter: func(t *testing.T) (Limiter, func(time.Duration)) {
			// Redis keeps time itself: the clock of this harness is the
			// real one, advanced by waiting (the behaviour under test is
			// expiry on Redis's clock).
			return newRedis(t), time.Sleep
		},
		newRealClock: newRedis,
	})
}

func TestRedisStoredState(t *testing.T) {
	const (
		limit  = 10
		window = time.Minute
	)
	client, prefix := newTestRedis(t)
	l := NewRedis(client, prefix)
	d, err := l.Allow(t.Context(), "key:a", limit, window)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := client.Get(t.Context(), prefix+"key:a").Result()
	if err != nil {
		t.Fatal(err)
	}
	tat, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		t.Fatalf("stored TAT %q is not an integer: %v", raw, err)
	}
	if got, want := tat, d.ResetAt.UnixMicro(); got != want {
		t.Errorf("stored TAT = %d µs, want ResetAt %d µs", got, want)
	}
	ttl, err := client.PTTL(t.Context(), prefix+"key:a").Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= window-time.Second || ttl > window {
		t.Errorf("PTTL = %v, want about %v (tau)", ttl, window)
	}

	// A key whose TAT is past counts as a full allowance.
	past := strconv.FormatInt(time.Now().Add(-time.Hour).UnixMicro(), 10)
	if err := client.Set(t.Context(), prefix+"key:a", past, 0).Err(); err != nil {
		t.Fatal(err)
	}
	d, err = l.Peek(t.Context(), "key:a", limit, window)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.Remaining, limit; got != want {
		t.Errorf("Peek with a past TAT: Remaining = %d, want %d", got, want)
	}
}

func TestRedisUnreachable(t *testing.T) {
	// Port 1 on loopback: nothing listens there.
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	defer client.Close()
	l := NewRedis(client, "novamed-test-unreachable:")
	if _, err := l.Allow(t.Context(), "key:a", 10, time.Minute); err == nil {
		t.Errorf("Allow with Redis unreachable: error = nil, want an error")
	}
}

func BenchmarkRedisAllow(b *testing.B) {
	client, prefix := newTestRedis(b)
	l := NewRedis(client, prefix)
	ctx := context.Background()
	for b.Loop() {
		if _, err := l.Allow(ctx, "key:0", 100, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}
