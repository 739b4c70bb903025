// Package storetest is the conformance suite every novamed.Store implementation must pass.
//
// Run drives one implementation through the behaviour the API relies on:
// clinics, API keys (create, look-up, revoke, roll, rate limits, last-used
// times), practitioners and patients (PHI round trips, clinic scoping,
// uniqueness rules, keyset pagination), the atomicity of a write and its
// Effects, remembered idempotent answers, and the hash-chained audit trail
// (verified with audit.Verify, also under concurrent appenders). It covers
// the pharmacy too: medication orders (round trips, clinic scoping, filters), the
// order lifecycle with its outbox events and rx numbers, refills and their
// eligibility rules, the carrier catalogue, clinic free shipping and
// practitioner activation, including concurrent transitions and refills.
// Webhooks (registration, scoping, the per-clinic limit, deletion, the
// delivery queue's leases, attempts, ordering and retries) and usage
// (counters, key activity and networks, security events) are in it too.
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
//   - A method that returns a key returns it as it is now stored; so do
//     TransitionOrder and CreateRefill with the order they change or create.
//   - An order's patient and practitioner must be of its clinic (else
//     CodeNotFound). TransitionOrder refuses a step off the lifecycle, and a
//     concurrent duplicate of a step, with CodeInvalidTransition and writes
//     no event; each step writes exactly one event, listed by ListEvents in
//     order. The store stamps a step, its event and its shipment times with
//     its own clock. A shipment is otherwise stored as given (the suite
//     gives CreateMedicationOrder shipment times in stored form only).
//   - A refused refill is CodeMedRequestUnknown (unknown, out of scope or a
//     clinic_id other than the request's) or carries the exact refill
//     message of novamed.RefillEligibility; concurrent refills of one request
//     succeed once, the others are MsgRefillExists.
//   - OrdersToAdvance and PendingPractitioners are work queues, not lists:
//     empty may be nil. PendingPractitioners is oldest first.
//
// Each subtest gets its own store from newStore and runs sequentially, so an
// implementation may hand out stores that share a server. The store's clock
// must read a time between 2025-03-15 and 2090 (the wall clock does): the
// suite revokes and expires keys at fixed instants before that range and lets
// them expire after it, and tells orders changed by the store from orders
// last changed at fixed instants on either side of it.
package storetest
