package httpapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// idempotencyTTL is how long answers to Idempotency-Key requests are kept.
const idempotencyTTL = 24 * time.Hour

// validIdempotencyKey reports whether k is 1–255 printable ASCII characters.
func validIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// idempotent gives POST, PATCH and DELETE requests with an Idempotency-Key
// the contract's semantics: a remembered answer is replayed, a reused key
// with a different request is 422, a key still in flight is 409. It reports
// whether it answered the request (false: no key, h is to be run as usual).
// The answer is sent while the key's slot is held, so it is stored (by
// send, or by a write in its own transaction) before another request with
// the key can run. keyInWrite (partnerRoute.writesKeyFirst): the write's
// own transaction finds a used key, so the remembered answer is looked up
// only when the handler fails — a new key, the common case, costs no read
// (the lookup was ~9 % of a create's CPU; docs/performance.md, sixth round).
func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, st *reqState, names auditNames, keyInWrite bool, h handlerFunc) bool {
	key := r.Header.Get("Idempotency-Key")
	if key == "" || (r.Method != http.MethodPost && r.Method != http.MethodPatch && r.Method != http.MethodDelete) {
		return false
	}
	fail := func(err error) bool {
		s.answer(w, r, st, names, reply{}, err)
		return true
	}
	if !validIdempotencyKey(key) {
		return fail(&novamed.Error{Code: novamed.CodeIdempotencyKey, Message: "Idempotency-Key must be 1 to 255 printable ASCII characters."})
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fail(errTooLarge)
		}
		return fail(&novamed.Error{Code: novamed.CodeInvalidJSON, Message: "The request body could not be read."})
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	fp := s.fingerprint(r, body)
	// The slot is taken before looking for a remembered answer and held
	// until this request's answer is stored, so two requests of one
	// process never both run.
	slot := st.key.Owner + "\x00" + key
	if _, busy := s.inflight.LoadOrStore(slot, struct{}{}); busy {
		return fail(errInUse)
	}
	defer s.inflight.Delete(slot)
	if !keyInWrite {
		if done, err := s.replay(w, r, st, key, fp, body); done || err != nil {
			return err == nil || fail(err)
		}
	}
	pending := &novamed.IdempotencyRecord{Owner: st.key.Owner, Key: key, Fingerprint: fp}
	st.idem = pending
	rep, err := h(w, r, st)
	if errors.Is(err, novamed.ErrIdempotencyConflict) {
		// Another replica committed this key first: answer as it did.
		st.idem = nil
		if done, rerr := s.replay(w, r, st, key, fp, body); done || rerr != nil {
			return rerr == nil || fail(rerr)
		}
		return fail(errInUse)
	}
	if err != nil && keyInWrite {
		// Not looked up before: a remembered answer (or the key reused
		// with another request) answers as it would have before the
		// handler ran; the failed handler wrote nothing.
		st.idem = nil
		if done, rerr := s.replay(w, r, st, key, fp, body); done || rerr != nil {
			return rerr == nil || fail(rerr)
		}
		st.idem = pending
	}
	if err != nil {
		st.facts = rep.facts
		s.writeError(w, r, err) // stores a 4xx answer while the slot is held
		return true
	}
	s.answer(w, r, st, names, rep, nil)
	return true
}

var errInUse = &novamed.Error{Code: novamed.CodeIdempotencyInUse, Message: "A request with this Idempotency-Key is still being processed; retry later."}

// replay answers from a remembered response, if there is one.
func (s *Server) replay(w http.ResponseWriter, r *http.Request, st *reqState, key, fp string, body []byte) (bool, error) {
	rec, err := s.store.GetIdempotency(r.Context(), st.key.Owner, key)
	if novamed.ErrorCode(err) == novamed.CodeNotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !sameRequest(rec.Fingerprint, fp, r, body) {
		return false, &novamed.Error{Code: novamed.CodeIdempotencyReused, Message: "This Idempotency-Key was already used with a different request."}
	}
	st.action = "idempotent.replay"
	// The replay repeats the original answer, PHI included: its audit
	// record names what the original's named.
	st.facts = touched(rec.ClinicID, rec.ResourceIDs...)
	s.metrics.Replay()
	// What a handler that ran before the replay set for this request's
	// own handling is not part of the remembered answer.
	w.Header().Del(headerIgnoredFields)
	w.Header().Del(headerPreferenceApplied)
	w.Header().Set("Idempotent-Replayed", "true")
	s.send(w, r, rec.Status, rec.Body)
	return true, nil
}

// keyedFingerprint marks a keyed fingerprint. A stored fingerprint without
// it is a plain SHA-256 written before the upgrade (kept at most 24 h).
const keyedFingerprint = "k1:"

// fingerprint identifies a request (method, path, query and body) by an
// HMAC-SHA256 under a key derived from the master key: a plain hash of a
// body that holds a name and a birth date can be reversed with a
// dictionary of names and dates.
func (s *Server) fingerprint(r *http.Request, body []byte) string {
	mac, _ := s.fingerprintMACs.Get().(hash.Hash)
	if mac == nil {
		mac = hmac.New(sha256.New, s.fingerprintKey)
	}
	mac.Reset()
	writeFingerprinted(mac, r, body)
	var sum [sha256.Size]byte
	fp := keyedFingerprint + hex.EncodeToString(mac.Sum(sum[:0]))
	s.fingerprintMACs.Put(mac)
	return fp
}

// legacyFingerprint is the plain SHA-256 fingerprint of releases before
// keyed fingerprints; only compared, never stored.
func legacyFingerprint(r *http.Request, body []byte) string {
	h := sha256.New()
	writeFingerprinted(h, r, body)
	return hex.EncodeToString(h.Sum(nil))
}

func writeFingerprinted(h hash.Hash, r *http.Request, body []byte) {
	io.WriteString(h, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery+"\n") //nolint:errcheck // hashes never fail
	h.Write(body)
}

// sameRequest reports whether a stored fingerprint names this request: the
// keyed fingerprint, or (for a record stored before the upgrade) the plain
// one, so a retry that spans the upgrade is still replayed.
func sameRequest(stored, fp string, r *http.Request, body []byte) bool {
	if strings.HasPrefix(stored, keyedFingerprint) {
		return hmac.Equal([]byte(stored), []byte(fp))
	}
	return hmac.Equal([]byte(stored), []byte(legacyFingerprint(r, body)))
}

// send writes a response after its audit record (and, for an idempotent
// request, its remembered answer) is durable. A write that committed both in
// its own transaction has already marked them done.
func (s *Server) send(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	s.deliver(w, r, status, body, false)
}

// deliver is send for an answer whose audit record may already be
// committed with its write (audited); a pending idempotent answer is still
// stored.
func (s *Server) deliver(w http.ResponseWriter, r *http.Request, status int, body []byte, audited bool) {
	st := stateOf(r)
	if audited && st.idem == nil {
		writeRaw(w, status, body)
		return
	}
	var rec *novamed.AuditRecord
	if !audited && (st.key != nil || st.actor != "") || st.action == "auth.failed" || st.action == "auth.blocked" || st.action == "admin.auth_failed" {
		rec = s.auditRecord(r, st, st.facts, status)
	}
	var idem *novamed.IdempotencyRecord
	if st.idem != nil && status < 500 {
		idem = st.idemRecord(st.facts, status, body, s.now())
	}
	st.idem = nil
	var err error
	// The records are written even when the client has gone, but not
	// forever: a stalled store makes this answer a 503 within recordTimeout.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), recordTimeout)
	defer cancel()
	switch {
	case idem != nil:
		err = s.store.SaveIdempotency(ctx, idem, rec)
		if errors.Is(err, novamed.ErrIdempotencyConflict) {
			// Another replica stored an answer for this key first (a write
			// whose answer is stored after it, e.g. a test event): audit
			// this request on its own and answer as the first one did.
			err = nil
			if rec != nil {
				err = s.audit.Record(ctx, rec)
			}
			if stored, gerr := s.store.GetIdempotency(ctx, idem.Owner, idem.Key); gerr == nil && hmac.Equal([]byte(stored.Fingerprint), []byte(idem.Fingerprint)) {
				w.Header().Set("Idempotent-Replayed", "true")
				status, body = stored.Status, stored.Body
			}
		}
	case rec != nil:
		err = s.audit.Record(ctx, rec)
	}
	if err != nil {
		// No answer leaves without its audit record: a PHI read whose
		// record cannot be written is refused (503 when the store is out).
		s.log.Error("audit or idempotency record failed; refusing the answer", "request_id", st.requestID, "err", err)
		status, eb := envelopeOf(err, st.requestID)
		if eb.Error.RetryAfter != nil {
			w.Header().Set("Retry-After", strconv.Itoa(*eb.Error.RetryAfter))
		}
		writeJSON(w, status, eb)
		return
	}
	writeRaw(w, status, body)
}

// recordTimeout bounds the wait for a response's audit and idempotency
// records.
const recordTimeout = 5 * time.Second

// idemRecord completes the pending idempotency record with an answer.
func (st *reqState) idemRecord(f facts, status int, body []byte, now time.Time) *novamed.IdempotencyRecord {
	rec := *st.idem
	rec.Status, rec.Body, rec.CreatedAt = status, body, now
	rec.ClinicID, rec.ResourceIDs = f.clinicID, f.resourceIDs
	return &rec
}
