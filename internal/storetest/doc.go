// Package storetest is the conformance suite every novamed.Store implementation must pass.
//
// Run drives one implementation through the behaviour the API relies on:
// clinics, API keys (create, look-up, revoke, roll, rate limits, last-used
// times), practitioners and patients (PHI round trips, clinic scoping,
// uniqueness rules, keyset pagination), the atomicity of a write and its
// Effects, remembered idempotent answers, and the hash-chained audit trail
// (verified with audit.Verify, also under concurrent appenders).
//
// The contract the suite pins down, beyond the comments of novamed.Store:
//
//   - Times come back in UTC, truncated to the microsecond.
//   - Errors carry the domain codes: an unknown clinic is CodeClinicNotFound,
//     an unknown or out-of-scope row is CodeNotFound, a rule broken by the
//     input is CodeInvalid; uniqueness violations wrap novamed.ErrConflict and
//     a reused Idempotency-Key is novamed.ErrIdempotencyConflict, checked
//     before any other rule of the write.
//   - A failed write stores nothing: neither its row nor its Effects.
//   - Lists never return nil slices; a key's Clinics, a patient's Contacts and
//     MedicationAllergies come back non-nil. Key clinics are sorted.
//   - A method that returns a key returns it as it is now stored.
//
// Each subtest gets its own store from newStore and runs sequentially, so an
// implementation may hand out stores that share a server. The store's clock
// must read a time between 2025-03-15 and 2090 (the wall clock does): the
// suite revokes and expires keys at fixed instants before that range and lets
// them expire after it.
package storetest
