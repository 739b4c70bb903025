// Package audit keeps the tamper-evident audit trail: it chains records with
// SHA-256 (each hash covers the record and the previous hash), verifies a
// chain, and group-commits records that have no write transaction of their
// own so that auditing a read costs a shared fsync, not one per request.
package audit
