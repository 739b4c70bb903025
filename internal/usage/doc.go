// Package usage knows what every key is doing: per-key counters kept in
// memory and flushed in batches (no write per request), the anomaly rules
// that turn suspicious use into security events, and the Prometheus metrics
// of the service. Metric labels never hold a key, an id or PHI: routes are
// patterns, statuses are codes, rules and outcomes are fixed words.
package usage
