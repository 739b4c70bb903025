package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/keyrequest"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
)

// The store keeps the production key-request queue (issue 24).
var _ keyrequest.Store = (*Store)(nil)

const keyRequestColumns = `id, partner_id, kind, key_id, name, clinics, expires_at, rate_limit, grace_seconds, status, requested_by,
	created_at, decided_by, decided_at, reason, issued_key_id, issued_prefix, issued_key <> '', collected_at`

func scanKeyRequest(r rowScanner) (*keyrequest.Request, error) {
	var q keyrequest.Request
	var kind, status, clinics string
	var expires, decided, collected sql.NullInt64
	var created, grace int64
	if err := r.Scan(&q.ID, &q.PartnerID, &kind, &q.KeyID, &q.Name, &clinics, &expires, &q.RateLimit, &grace, &status, &q.RequestedBy,
		&created, &q.DecidedBy, &decided, &q.Reason, &q.IssuedKeyID, &q.IssuedPrefix, &q.Waiting, &collected); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(clinics), &q.Clinics); err != nil {
		return nil, err
	}
	q.Kind, q.Status, q.Grace, q.CreatedAt = keyrequest.Kind(kind), keyrequest.Status(status), time.Duration(grace)*time.Second, fromMicros(created)
	q.ExpiresAt, q.DecidedAt, q.CollectedAt = nullTime(expires), nullTime(decided), nullTime(collected)
	return &q, nil
}

func nullTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func nullMicrosOf(t *time.Time) any {
	if t == nil {
		return nil
	}
	return micros(*t)
}

// CreateKeyRequest queues a request of an existing partner.
func (s *Store) CreateKeyRequest(ctx context.Context, r *keyrequest.Request, eff novamed.Effects) error {
	clinics, err := json.Marshal(r.Clinics)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *txn) error {
		if _, err := s.lockPartner(ctx, tx, r.PartnerID); err != nil {
			return err
		}
		if r.Status == keyrequest.Pending {
			// Under the partner's lock: concurrent requests of one
			// partner count one after the other.
			var n int
			if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM key_requests WHERE partner_id = ? AND status = 'pending'`, r.PartnerID).Scan(&n); err != nil {
				return fmt.Errorf("sqlstore: count key requests: %w", err)
			}
			if n >= keyrequest.MaxPending {
				return keyrequest.ErrTooManyPending()
			}
		}
		if _, err := tx.exec(ctx, `INSERT INTO key_requests (id, partner_id, kind, key_id, name, clinics, expires_at, rate_limit, grace_seconds, status, requested_by, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.ID, r.PartnerID, string(r.Kind), r.KeyID, r.Name, string(clinics), nullMicrosOf(r.ExpiresAt),
			r.RateLimit, int64(r.Grace/time.Second), string(r.Status), r.RequestedBy, micros(r.CreatedAt)); err != nil {
			return fmt.Errorf("sqlstore: insert key request: %w", err)
		}
		return s.writeEffects(ctx, tx, eff)
	})
}

// GetKeyRequest returns a request (from the write pool: a decision reads
// what it changes).
func (s *Store) GetKeyRequest(ctx context.Context, id string) (*keyrequest.Request, error) {
	r, err := scanKeyRequest(s.write.queryRow(ctx, `SELECT `+keyRequestColumns+` FROM key_requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, novamed.NotFound("Key request")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: get key request: %w", err)
	}
	return r, nil
}

// ListKeyRequests lists requests newest first, of one partner and of one
// status when given (at most 500).
func (s *Store) ListKeyRequests(ctx context.Context, partnerID string, status keyrequest.Status) ([]*keyrequest.Request, error) {
	rows, err := s.write.query(ctx, `SELECT `+keyRequestColumns+` FROM key_requests WHERE (? = '' OR partner_id = ?) AND (? = '' OR status = ?)
		ORDER BY created_at DESC, id DESC LIMIT 500`, partnerID, partnerID, string(status), string(status))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list key requests: %w", err)
	}
	defer rows.Close()
	out := []*keyrequest.Request{}
	for rows.Next() {
		r, err := scanKeyRequest(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list key requests: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// errAlreadyDecided is the answer to a decision on a request another
// decision got to first (two operators, or a double submit): a client's
// race, answered 409 with a message, never a server fault.
func errAlreadyDecided() error {
	return novamed.Errorf(novamed.CodeInvalidTransition, "This request was already decided.")
}

// PageKeyRequests lists one page of requests, newest first; the cursor
// is the creation time and id of the page's last request.
func (s *Store) PageKeyRequests(ctx context.Context, f keyrequest.Filter) ([]*keyrequest.Request, string, error) {
	if f.Limit < 1 {
		f.Limit = 25
	}
	where := `(? = '' OR partner_id = ?) AND (? = '' OR status = ?)`
	args := []any{f.PartnerID, f.PartnerID, string(f.Status), string(f.Status)}
	if f.Decided {
		where += ` AND status <> 'pending'`
	}
	if f.Cursor != "" {
		at, id, _ := strings.Cut(f.Cursor, "_")
		t, err := strconv.ParseInt(at, 10, 64)
		if err != nil || !keyrequest.ValidCursor(f.Cursor) {
			return nil, "", novamed.Errorf(novamed.CodeInvalid, "cursor is the next_cursor of the previous page.")
		}
		where += ` AND (created_at < ? OR (created_at = ? AND id < ?))`
		args = append(args, t, t, strings.ToLower(id))
	}
	rows, err := s.write.query(ctx, `SELECT `+keyRequestColumns+` FROM key_requests WHERE `+where+`
		ORDER BY created_at DESC, id DESC LIMIT ?`, append(args, f.Limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: page key requests: %w", err)
	}
	defer rows.Close()
	out := []*keyrequest.Request{}
	for rows.Next() {
		r, err := scanKeyRequest(rows)
		if err != nil {
			return nil, "", fmt.Errorf("sqlstore: page key requests: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		last := out[len(out)-1]
		next = strconv.FormatInt(micros(last.CreatedAt), 10) + "_" + last.ID
	}
	return out, next, nil
}

// CountKeyRequests counts requests of one partner and of one status when
// given (the console's menu counts the pending ones on every page).
func (s *Store) CountKeyRequests(ctx context.Context, partnerID string, status keyrequest.Status) (int, error) {
	var n int
	err := s.write.queryRow(ctx, `SELECT COUNT(*) FROM key_requests WHERE (? = '' OR partner_id = ?) AND (? = '' OR status = ?)`,
		partnerID, partnerID, string(status), string(status)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: count key requests: %w", err)
	}
	return n, nil
}

// RejectKeyRequest records the rejection of a pending request.
func (s *Store) RejectKeyRequest(ctx context.Context, r *keyrequest.Request, eff novamed.Effects) error {
	return s.inTx(ctx, func(tx *txn) error {
		res, err := tx.exec(ctx, `UPDATE key_requests SET status = ?, decided_by = ?, decided_at = ?, reason = ?
			WHERE id = ? AND status = 'pending'`, string(keyrequest.Rejected), r.DecidedBy, nullMicrosOf(r.DecidedAt), r.Reason, r.ID)
		if err != nil {
			return fmt.Errorf("sqlstore: decide key request: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errAlreadyDecided()
		}
		return s.writeEffects(ctx, tx, eff)
	})
}

// ApproveKeyRequest approves pending request r in one transaction: it
// stores the key of iss (a new key, or the successor of the key rolled)
// after iss.Check accepted the partner, checks that the key is the
// requesting partner's, seals the raw key to the request and writes the
// issuance's and the decision's audit records. Any failure, a request no
// longer pending included (errAlreadyDecided: INVALID_TRANSITION, 409), leaves no key and the
// request as it was.
func (s *Store) ApproveKeyRequest(ctx context.Context, r *keyrequest.Request, iss *onboarding.Issuance, eff novamed.Effects) error {
	z := s.sealer("key_requests", r.ID)
	sealed := z.str("issued_key", iss.Raw)
	if z.err != nil {
		return z.err
	}
	return s.inTx(ctx, func(tx *txn) error {
		var status, partnerID string
		err := tx.queryRow(ctx, `SELECT status, partner_id FROM key_requests WHERE id = ?`+s.syntax.forUpdate(), r.ID).Scan(&status, &partnerID)
		if errors.Is(err, sql.ErrNoRows) {
			return novamed.NotFound("Key request")
		}
		if err != nil {
			return fmt.Errorf("sqlstore: approve key request: %w", err)
		}
		if status != string(keyrequest.Pending) {
			return errAlreadyDecided()
		}
		if iss.Replaces != "" {
			old, err := s.rollKey(ctx, tx, iss.Replaces, iss.Key, iss.GraceUntil, iss.Check)
			if err != nil {
				return err
			}
			iss.Key.PartnerID = old.PartnerID
		} else if err := s.issueKey(ctx, tx, iss.Key, iss.Check); err != nil {
			return err
		}
		if iss.Key.PartnerID != partnerID {
			// The portal only queues the partner's own clinics and keys;
			// this holds even if a clinic moved since.
			return novamed.Errorf(novamed.CodeInvalid, "The key's clinics are no longer all of the requesting partner.")
		}
		res, err := tx.exec(ctx, `UPDATE key_requests SET status = ?, decided_by = ?, decided_at = ?, reason = '', issued_key_id = ?, issued_prefix = ?, issued_key = ?
			WHERE id = ? AND status = 'pending'`, string(keyrequest.Approved), r.DecidedBy, nullMicrosOf(r.DecidedAt), iss.Key.ID, iss.Key.Prefix, sealed, r.ID)
		if err != nil {
			return fmt.Errorf("sqlstore: approve key request: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errAlreadyDecided()
		}
		recs := []*novamed.AuditRecord{}
		for _, rec := range []*novamed.AuditRecord{iss.Audit, eff.Audit} {
			if rec != nil {
				recs = append(recs, rec)
			}
		}
		if err := s.appendAudit(ctx, tx, recs); err != nil {
			return err
		}
		return s.writeEffects(ctx, tx, novamed.Effects{Idempotency: eff.Idempotency})
	})
}

// CollectIssuedKey opens and erases the sealed key of an approved request
// of partnerID, in one transaction: it is returned once.
func (s *Store) CollectIssuedKey(ctx context.Context, id, partnerID string, at time.Time, eff novamed.Effects) (string, error) {
	var raw string
	err := s.inTx(ctx, func(tx *txn) error {
		var sealed string
		err := tx.queryRow(ctx, `SELECT issued_key FROM key_requests WHERE id = ? AND partner_id = ? AND status = 'approved' AND issued_key <> ''`+s.syntax.forUpdate(),
			id, partnerID).Scan(&sealed)
		if errors.Is(err, sql.ErrNoRows) {
			return novamed.NotFound("Key request")
		}
		if err != nil {
			return fmt.Errorf("sqlstore: collect issued key: %w", err)
		}
		op := s.opener("key_requests", id)
		raw = op.str("issued_key", sealed)
		if op.err != nil {
			return op.err
		}
		if _, err := tx.exec(ctx, `UPDATE key_requests SET issued_key = '', collected_at = ? WHERE id = ?`, micros(at), id); err != nil {
			return fmt.Errorf("sqlstore: collect issued key: %w", err)
		}
		return s.writeEffects(ctx, tx, eff)
	})
	if err != nil {
		return "", err
	}
	return raw, nil
}
