package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// gcraScript implements the GCRA decision atomically on the Redis server,
// with the server's clock, in microseconds.
//
// KEYS[1] is the subject's key, holding its TAT in unix microseconds.
// ARGV[1] is the emission interval T and ARGV[2] the tolerance tau, in
// microseconds; ARGV[3] is "1" to consume an allowed request.
// It returns {allowed (0 or 1), now, tat}, where tat is the subject's TAT
// after the call, never before now. Numbers are written with %.0f, since
// Lua's default number formatting would lose digits of a microsecond time.
const gcraScript = `
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000000 + tonumber(now[2])
local t = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
	tat = now
end
local allowed = 0
if now >= tat + t - tau then
	allowed = 1
	if ARGV[3] == '1' then
		tat = tat + t
		redis.call('SET', KEYS[1], string.format('%.0f', tat),
			'PX', string.format('%.0f', math.ceil(tau / 1000)))
	end
end
return {allowed, now, tat}
`

// Redis is a GCRA limiter whose state lives in Redis, so that several
// processes can share one limit. Each decision is one atomic Lua script
// using the Redis server's clock; the TAT of subject is stored in unix
// microseconds under the key prefix+subject, which expires after tau (the
// window, rounded down to whole microseconds per request), by when it would
// say nothing that a missing key does not. It needs Redis 5 or later.
//
// Redis is safe for concurrent use.
type Redis struct {
	client redis.UniversalClient
	prefix string
	script *redis.Script
}

var _ Limiter = (*Redis)(nil)

// NewRedis returns a Redis limiter that uses client, which must not be nil,
// and stores each subject's state under prefix+subject.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix, script: redis.NewScript(gcraScript)}
}

// Allow reports whether one request for subject is allowed under a limit of
// limit requests per window, and consumes it if so. It fails if the limit or
// window is invalid (ErrInvalidLimit; the window must leave at least one
// microsecond per request) or Redis fails; callers choose whether to fail
// open or closed then.
func (r *Redis) Allow(ctx context.Context, subject string, limit int, window time.Duration) (Decision, error) {
	return r.decide(ctx, subject, limit, window, true)
}

// Peek reports what Allow would decide for subject now, without consuming.
func (r *Redis) Peek(ctx context.Context, subject string, limit int, window time.Duration) (Decision, error) {
	return r.decide(ctx, subject, limit, window, false)
}

func (r *Redis) decide(ctx context.Context, subject string, limit int, window time.Duration, consume bool) (Decision, error) {
	t, tau, err := gcraParams(limit, window, time.Microsecond)
	if err != nil {
		return Decision{}, err
	}
	flag := "0"
	if consume {
		flag = "1"
	}
	vals, err := r.script.Run(ctx, r.client, []string{r.prefix + subject}, t, tau, flag).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: redis: %w", err)
	}
	if len(vals) != 3 {
		return Decision{}, fmt.Errorf("ratelimit: redis: script returned %d values, want 3", len(vals))
	}
	allowed, now, tat := vals[0] == 1, vals[1], vals[2]

	// The script decided and, if asked, consumed; recompute the derived
	// figures from the state it saw, in the same integer arithmetic.
	before := tat
	if allowed && consume {
		before = tat - t
	}
	o := gcra(now, before, t, tau, limit, consume)
	if o.allowed != allowed || o.tat != tat {
		return Decision{}, fmt.Errorf("ratelimit: redis: script decided allowed=%v tat=%d, want allowed=%v tat=%d", allowed, tat, o.allowed, o.tat)
	}
	d := Decision{
		Allowed:   allowed,
		Limit:     limit,
		Remaining: o.remaining,
		ResetAt:   time.UnixMicro(tat),
	}
	if !allowed {
		d.RetryAfter = time.Duration(o.retry) * time.Microsecond
	}
	return d, nil
}
