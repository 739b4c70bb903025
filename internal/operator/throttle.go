package operator

import "time"

// Sign-in throttle: each failed sign-in of an account, and from an
// address, makes the next attempt of that account (or from that address)
// wait longer. There is no lockout: the delay stops growing at MaxDelay,
// so an attacker who knows an email can slow its operator down but never
// shut them out; an admin can reset it (operators reset-throttle).
const (
	// FreeFailures are failures without any delay (typos).
	FreeFailures = 3
	// MaxDelay is the longest wait between attempts.
	MaxDelay = 30 * time.Second
	// ThrottleMemory is how long failures are remembered after the last one.
	ThrottleMemory = 24 * time.Hour
)

// Delay is the wait after failures consecutive failures: none for the
// first FreeFailures, then 1 s, 2 s, 4 s… up to MaxDelay.
func Delay(failures int) time.Duration {
	if failures < FreeFailures {
		return 0
	}
	n := failures - FreeFailures
	if n >= 6 {
		return MaxDelay
	}
	return min(time.Second<<n, MaxDelay)
}

// AccountSubject and AddressSubject name throttle rows.
func AccountSubject(email string) string { return "account:" + NormalizeEmail(email) }

// AddressSubject names the throttle row of a client address.
func AddressSubject(addr string) string { return "address:" + addr }

// Wait is how long an attempt at now must still wait, given a subject's
// failures and last failure time.
func Wait(failures int, last, now time.Time) time.Duration {
	if failures == 0 || now.Sub(last) > ThrottleMemory {
		return 0
	}
	return max(0, last.Add(Delay(failures)).Sub(now))
}
