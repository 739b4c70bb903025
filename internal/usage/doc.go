// Package usage knows what every key is doing, in three parts:
//
//   - per-key usage (counts.go): counters kept in memory and flushed in
//     batches (no write per request);
//   - the anomaly rules (rules.go): the state each rule keeps and its
//     judgement, which turn suspicious use into security events, each rule
//     unit-tested on its own (rules_test.go);
//   - the service metrics (metrics.go), for Prometheus.
//
// The Recorder (recorder.go) owns the first two and their background work.
// Metric labels never hold a key, an id or PHI: routes are patterns,
// statuses are codes, rules and outcomes are fixed words.
package usage
