// Package ratelimit limits how often a subject may do something, such as
// call the NovaMed Partner API with one API key (e.g. 100 requests per
// minute) or fail authentication from one client address (e.g. 20 per
// minute).
//
// Both limiters use the generic cell rate algorithm (GCRA) with a burst equal
// to the limit and a period equal to the window: a subject limited to N per
// window that sends N+k requests at once gets exactly N of them allowed, and
// thereafter one more request becomes available every window/N. Unlike a
// fixed-window counter, GCRA never allows a burst of 2N around a window edge:
// in any interval of length d at most N + d/(window/N) requests are allowed.
//
// Memory keeps its state in process; Redis keeps it in Redis, so that several
// server processes can share one limit. Both implement Limiter.
//
// A subject's state is one theoretical arrival time (TAT), independent of the
// limit and window passed with each call, so one subject should always be
// used with the same limit and window. Give different kinds of limit
// different subject namespaces, e.g. "key:"+the key lineage (its first key's id) and "authfail:"+addr.
package ratelimit
