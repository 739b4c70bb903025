// Package httpapi is the HTTP face of the NovaMed Partner API: routes,
// the middleware chain (request id, recovery, security headers, content
// negotiation, body limit, authentication, rate limits, idempotency, audit),
// the one error writer, and the resource handlers.
package httpapi
