package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

const webhookColumns = `id, clinic_id, url, secret, verification_token, prev_secret, prev_token, overlap_until, created_at`

func (s *Store) scanWebhook(r rowScanner) (*novamed.Webhook, error) {
	var w novamed.Webhook
	var secret, token, prevSecret, prevToken string
	var overlap, created int64
	if err := r.Scan(&w.ID, &w.ClinicID, &w.URL, &secret, &token, &prevSecret, &prevToken, &overlap, &created); err != nil {
		return nil, err
	}
	o := s.opener("webhooks", w.ID)
	w.Secrets = novamed.WebhookSecrets{
		SigningSecret: o.str("secret", secret), VerificationToken: o.str("verification_token", token),
		PreviousSigningSecret: o.str("prev_secret", prevSecret), PreviousToken: o.str("prev_token", prevToken),
	}
	if o.err != nil {
		return nil, o.err
	}
	if overlap != 0 {
		w.Secrets.OverlapUntil = fromMicros(overlap)
	}
	// A webhook registered before the two secrets had one secret, sent as
	// x-api-key and used to sign: it keeps serving as both until the
	// partner rotates (docs/decisions.md).
	if w.Secrets.VerificationToken == "" {
		w.Secrets.VerificationToken = w.Secrets.SigningSecret
	}
	if w.Secrets.PreviousToken == "" {
		w.Secrets.PreviousToken = w.Secrets.PreviousSigningSecret
	}
	w.CreatedAt = fromMicros(created)
	return &w, nil
}

// sealedSecrets are a webhook's secrets as stored: each sealed.
type sealedSecrets struct {
	secret, token, prevSecret, prevToken string
	overlapUntil                         int64
}

func (s *Store) sealSecrets(id string, ws novamed.WebhookSecrets) (sealedSecrets, error) {
	z := s.sealer("webhooks", id)
	out := sealedSecrets{secret: z.str("secret", ws.SigningSecret), token: z.str("verification_token", ws.VerificationToken),
		prevSecret: z.str("prev_secret", ws.PreviousSigningSecret), prevToken: z.str("prev_token", ws.PreviousToken)}
	if !ws.OverlapUntil.IsZero() {
		out.overlapUntil = micros(ws.OverlapUntil)
	}
	return out, z.err
}

// CreateWebhook stores a webhook, at most MaxWebhooksPerClinic per clinic.
func (s *Store) CreateWebhook(ctx context.Context, w *novamed.Webhook, eff novamed.Effects) error {
	sealed, err := s.sealSecrets(w.ID, w.Secrets)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *txn) error {
		if err := s.writeEffects(ctx, tx, novamed.Effects{Idempotency: eff.Idempotency}); err != nil {
			return err
		}
		// Lock the clinic row so concurrent registrations count correctly.
		var one int
		if err := tx.queryRow(ctx, `SELECT 1 FROM clinics WHERE id = ?`+s.syntax.forUpdate(), w.ClinicID).Scan(&one); err != nil {
			return fmt.Errorf("sqlstore: lock clinic: %w", err)
		}
		var n int
		if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM webhooks WHERE clinic_id = ? AND deleted_at IS NULL`, w.ClinicID).Scan(&n); err != nil {
			return fmt.Errorf("sqlstore: count webhooks: %w", err)
		}
		if n >= novamed.MaxWebhooksPerClinic {
			return novamed.Errorf(novamed.CodeLimitReached, "A clinic can have at most %d webhooks; delete one first.", novamed.MaxWebhooksPerClinic)
		}
		if _, err := tx.exec(ctx, `INSERT INTO webhooks (id, clinic_id, url, secret, verification_token, prev_secret, prev_token, overlap_until, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			w.ID, w.ClinicID, w.URL, sealed.secret, sealed.token, sealed.prevSecret, sealed.prevToken, sealed.overlapUntil, micros(w.CreatedAt)); err != nil {
			return fmt.Errorf("sqlstore: insert webhook: %w", err)
		}
		return s.writeEffects(ctx, tx, novamed.Effects{Audit: eff.Audit})
	})
}

// RotateWebhookSecrets gives a live webhook of one of clinics new secrets,
// keeping the ones in use until overlapUntil (novamed.WebhookSecrets.Rotated).
func (s *Store) RotateWebhookSecrets(ctx context.Context, id string, clinics []string, fresh novamed.WebhookSecrets, overlapUntil time.Time,
	eff novamed.Effects) (*novamed.Webhook, error) {
	if len(clinics) == 0 {
		return nil, novamed.NotFound("Webhook")
	}
	var w *novamed.Webhook
	err := s.inTx(ctx, func(tx *txn) error {
		if err := s.writeEffects(ctx, tx, novamed.Effects{Idempotency: eff.Idempotency}); err != nil {
			return err
		}
		args := append([]any{id}, anySlice(clinics)...)
		var err error
		w, err = s.scanWebhook(tx.queryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = ? AND deleted_at IS NULL AND clinic_id IN (`+
			placeholders(len(clinics))+`)`+s.syntax.forUpdate(), args...))
		if errors.Is(err, sql.ErrNoRows) {
			return novamed.NotFound("Webhook")
		}
		if err != nil {
			return err
		}
		w.Secrets = w.Secrets.Rotated(fresh, s.now(), overlapUntil)
		sealed, err := s.sealSecrets(w.ID, w.Secrets)
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE webhooks SET secret = ?, verification_token = ?, prev_secret = ?, prev_token = ?, overlap_until = ? WHERE id = ?`,
			sealed.secret, sealed.token, sealed.prevSecret, sealed.prevToken, sealed.overlapUntil, w.ID); err != nil {
			return fmt.Errorf("sqlstore: rotate webhook secrets: %w", err)
		}
		return s.writeEffects(ctx, tx, novamed.Effects{Audit: eff.Audit})
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// GetWebhook returns a live webhook of one of clinics.
func (s *Store) GetWebhook(ctx context.Context, id string, clinics []string) (*novamed.Webhook, error) {
	if len(clinics) == 0 {
		return nil, novamed.NotFound("Webhook")
	}
	args := append([]any{id}, anySlice(clinics)...)
	w, err := s.scanWebhook(s.read.queryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = ? AND deleted_at IS NULL AND clinic_id IN (`+placeholders(len(clinics))+`)`, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, novamed.NotFound("Webhook")
	}
	return w, err
}

// ListWebhooks returns a page of live webhooks, newest first.
func (s *Store) ListWebhooks(ctx context.Context, f novamed.ListFilter) ([]*novamed.Webhook, string, error) {
	return listPageWhere(ctx, s, "webhooks", webhookColumns, f, ` AND deleted_at IS NULL`, nil, s.scanWebhook,
		func(w *novamed.Webhook) string { return w.ID })
}

// DeleteWebhook marks a webhook deleted; its pending deliveries fail.
func (s *Store) DeleteWebhook(ctx context.Context, id string, clinics []string, eff novamed.Effects) error {
	if len(clinics) == 0 {
		return novamed.NotFound("Webhook")
	}
	return s.inTx(ctx, func(tx *txn) error {
		if err := s.writeEffects(ctx, tx, novamed.Effects{Idempotency: eff.Idempotency}); err != nil {
			return err
		}
		now := micros(s.now())
		args := append([]any{now, id}, anySlice(clinics)...)
		res, err := tx.exec(ctx, `UPDATE webhooks SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL AND clinic_id IN (`+placeholders(len(clinics))+`)`, args...)
		if err != nil {
			return fmt.Errorf("sqlstore: delete webhook: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return novamed.NotFound("Webhook")
		}
		if _, err := tx.exec(ctx, `UPDATE deliveries SET status = ?, next_attempt_at = NULL, updated_at = ? WHERE webhook_id = ? AND status = ?`,
			novamed.DeliveryFailed, now, id, novamed.DeliveryPending); err != nil {
			return fmt.Errorf("sqlstore: delete webhook: %w", err)
		}
		return s.writeEffects(ctx, tx, novamed.Effects{Audit: eff.Audit})
	})
}

// fanOut queues an event for every live webhook of its clinic (or only
// onlyWebhook), inside the event's transaction: the outbox.
func (s *Store) fanOut(ctx context.Context, tx *txn, ev *novamed.Event, onlyWebhook string) ([]*novamed.Delivery, error) {
	query, args := `SELECT id FROM webhooks WHERE clinic_id = ? AND deleted_at IS NULL`, []any{ev.ClinicID}
	if onlyWebhook != "" {
		query += ` AND id = ?`
		args = append(args, onlyWebhook)
	}
	rows, err := tx.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: fan out: %w", err)
	}
	ids, err := collectIDs(rows)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	key := novamed.EventOrderingKey(ev)
	var out []*novamed.Delivery
	for _, wid := range ids {
		d := &novamed.Delivery{ID: newEventID(), WebhookID: wid, EventID: ev.ID, EventName: ev.Name, ClinicID: ev.ClinicID,
			Status: novamed.DeliveryPending, NextAttemptAt: &now, CreatedAt: now, UpdatedAt: now, History: []novamed.Attempt{}}
		// seq numbers one webhook's deliveries of one ordering key. Events
		// of one order are written under the order's row lock, so the
		// later transaction reads the earlier one's committed seq here
		// (on PostgreSQL each statement sees what committed before it).
		if _, err := tx.exec(ctx, `INSERT INTO deliveries (id, webhook_id, event_id, clinic_id, event_name, status, attempts, next_attempt_at, created_at, updated_at, ordering_key, seq)
			VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, CASE WHEN ? = '' THEN 0 ELSE (SELECT COALESCE(MAX(seq), 0) + 1 FROM deliveries WHERE webhook_id = ? AND ordering_key = ?) END)`,
			d.ID, wid, ev.ID, ev.ClinicID, ev.Name, d.Status, micros(now), micros(now), micros(now), key, key, wid, key); err != nil {
			return nil, fmt.Errorf("sqlstore: queue delivery: %w", err)
		}
		out = append(out, d)
	}
	return out, nil
}

// SendTestEvent records a webhook:test event for one webhook.
func (s *Store) SendTestEvent(ctx context.Context, webhookID string, ev *novamed.Event) (*novamed.Delivery, error) {
	var d *novamed.Delivery
	err := s.inTx(ctx, func(tx *txn) error {
		if err := s.insertEventOnly(ctx, tx, ev); err != nil {
			return err
		}
		ds, err := s.fanOut(ctx, tx, ev, webhookID)
		if err != nil {
			return err
		}
		if len(ds) != 1 {
			return novamed.NotFound("Webhook")
		}
		d = ds[0]
		return nil
	})
	return d, err
}

const deliveryColumns = `id, webhook_id, event_id, clinic_id, event_name, status, attempts, next_attempt_at, created_at, updated_at`

// qualifiedDeliveryColumns are deliveryColumns of the table aliased d.
const qualifiedDeliveryColumns = `d.id, d.webhook_id, d.event_id, d.clinic_id, d.event_name, d.status, d.attempts, d.next_attempt_at, d.created_at, d.updated_at`

func scanDelivery(r rowScanner) (*novamed.Delivery, error) {
	var d novamed.Delivery
	var next sql.NullInt64
	var created, updated int64
	if err := r.Scan(&d.ID, &d.WebhookID, &d.EventID, &d.ClinicID, &d.EventName, &d.Status, &d.Attempts, &next, &created, &updated); err != nil {
		return nil, err
	}
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = optTime(next), fromMicros(created), fromMicros(updated)
	d.History = []novamed.Attempt{}
	return &d, nil
}

// ClaimDeliveries leases due deliveries to worker.
func (s *Store) ClaimDeliveries(ctx context.Context, worker string, lease time.Duration, limit int) ([]*novamed.DeliveryJob, error) {
	var jobs []*novamed.DeliveryJob
	err := s.inTx(ctx, func(tx *txn) error {
		jobs = nil
		now := s.now()
		lock := s.syntax.forUpdateSkipLocked()
		// A deleted webhook's deliveries are never sent again, even if an
		// attempt in flight during the delete put one back to pending.
		// A suspended partner's deliveries are held (still pending, no
		// attempt spent) until it is reinstated.
		// Events of one order go to a webhook in order: a delivery waits
		// while an earlier one of its webhook and ordering key is pending
		// (in flight or waiting for a retry); it goes once that one has
		// succeeded or failed. The condition is in the query so that it
		// holds across replicas.
		rows, err := tx.query(ctx, `SELECT `+qualifiedDeliveryColumns+` FROM deliveries d WHERE d.status = ? AND d.next_attempt_at <= ? AND d.locked_until < ?
			AND d.webhook_id IN (SELECT id FROM webhooks WHERE deleted_at IS NULL)
			AND d.clinic_id NOT IN (SELECT c.id FROM clinics c JOIN partners p ON p.id = c.partner_id WHERE p.status = 'suspended')
			AND (d.ordering_key = '' OR NOT EXISTS (SELECT 1 FROM deliveries e
				WHERE e.webhook_id = d.webhook_id AND e.ordering_key = d.ordering_key AND e.seq < d.seq AND e.status = ?))
			ORDER BY d.next_attempt_at, d.seq LIMIT ?`+lock, novamed.DeliveryPending, micros(now), micros(now), novamed.DeliveryPending, limit)
		if err != nil {
			return fmt.Errorf("sqlstore: claim: %w", err)
		}
		var ds []*novamed.Delivery
		for rows.Next() {
			d, err := scanDelivery(rows)
			if err != nil {
				rows.Close()
				return err
			}
			ds = append(ds, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, d := range ds {
			res, err := tx.exec(ctx, `UPDATE deliveries SET locked_by = ?, locked_until = ? WHERE id = ? AND locked_until < ?`,
				worker, micros(now.Add(lease)), d.ID, micros(now))
			if err != nil {
				return fmt.Errorf("sqlstore: claim: %w", err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				continue
			}
			w, err := s.scanWebhook(tx.queryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = ?`, d.WebhookID))
			if err != nil {
				return fmt.Errorf("sqlstore: claim webhook: %w", err)
			}
			ev, err := s.scanEvent(tx.queryRow(ctx, `SELECT id, clinic_id, name, data, created_at FROM events WHERE id = ?`, d.EventID))
			if err != nil {
				return fmt.Errorf("sqlstore: claim event: %w", err)
			}
			jobs = append(jobs, &novamed.DeliveryJob{Delivery: *d, URL: w.URL, Secrets: w.Secrets, Event: ev})
		}
		return nil
	})
	return jobs, err
}

// RecordAttempt stores an attempt if worker still holds the lease.
func (s *Store) RecordAttempt(ctx context.Context, deliveryID, worker string, a novamed.Attempt, status string, next *time.Time) (bool, error) {
	held := false
	err := s.inTx(ctx, func(tx *txn) error {
		now := micros(s.now())
		res, err := tx.exec(ctx, `UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?, locked_by = '', locked_until = 0, updated_at = ?
			WHERE id = ? AND locked_by = ? AND locked_until >= ? AND status = ?`, status, optMicros(next), now, deliveryID, worker, now, novamed.DeliveryPending)
		if err != nil {
			return fmt.Errorf("sqlstore: record attempt: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		held = true
		var count int
		if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM delivery_attempts WHERE delivery_id = ?`, deliveryID).Scan(&count); err != nil {
			return err
		}
		_, err = tx.exec(ctx, `INSERT INTO delivery_attempts (delivery_id, attempt, at, status_code, latency_ms, error) VALUES (?, ?, ?, ?, ?, ?)`,
			deliveryID, count+1, micros(a.At), a.StatusCode, a.LatencyMS, a.Error)
		return err
	})
	return held, err
}

// ListDeliveries returns deliveries (with their attempts), newest first.
func (s *Store) ListDeliveries(ctx context.Context, f novamed.DeliveryFilter) ([]*novamed.Delivery, string, error) {
	var where []string
	var args []any
	if f.Clinics != nil {
		if len(f.Clinics) == 0 {
			return []*novamed.Delivery{}, "", nil
		}
		where = append(where, `clinic_id IN (`+placeholders(len(f.Clinics))+`)`)
		args = append(args, anySlice(f.Clinics)...)
	}
	if f.WebhookID != "" {
		where = append(where, `webhook_id = ?`)
		args = append(args, f.WebhookID)
	}
	if f.Status != "" {
		where = append(where, `status = ?`)
		args = append(args, f.Status)
	}
	if f.Cursor != "" {
		where = append(where, `id < ?`)
		args = append(args, f.Cursor)
	}
	query := `SELECT ` + deliveryColumns + ` FROM deliveries`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	rows, err := s.read.query(ctx, query+` ORDER BY id DESC LIMIT ?`, append(args, f.Limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list deliveries: %w", err)
	}
	items := []*novamed.Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			rows.Close()
			return nil, "", err
		}
		items = append(items, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(items) > f.Limit {
		items = items[:f.Limit]
		next = items[len(items)-1].ID
	}
	for _, d := range items {
		if err := s.loadAttempts(ctx, d); err != nil {
			return nil, "", err
		}
	}
	return items, next, nil
}

func (s *Store) loadAttempts(ctx context.Context, d *novamed.Delivery) error {
	rows, err := s.read.query(ctx, `SELECT attempt, at, status_code, latency_ms, error FROM delivery_attempts WHERE delivery_id = ? ORDER BY attempt`, d.ID)
	if err != nil {
		return fmt.Errorf("sqlstore: attempts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a novamed.Attempt
		var at int64
		if err := rows.Scan(&a.Number, &at, &a.StatusCode, &a.LatencyMS, &a.Error); err != nil {
			return err
		}
		a.At = fromMicros(at)
		d.History = append(d.History, a)
	}
	return rows.Err()
}

// RetryDelivery queues a delivery of one of clinics for an immediate attempt.
func (s *Store) RetryDelivery(ctx context.Context, id, webhookID string, clinics []string) (*novamed.Delivery, error) {
	if len(clinics) == 0 {
		return nil, novamed.NotFound("Delivery")
	}
	var d *novamed.Delivery
	err := s.inTx(ctx, func(tx *txn) error {
		args := append([]any{id}, anySlice(clinics)...)
		var err error
		d, err = scanDelivery(tx.queryRow(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = ? AND clinic_id IN (`+placeholders(len(clinics))+`)`+s.syntax.forUpdate(), args...))
		if errors.Is(err, sql.ErrNoRows) || (err == nil && webhookID != "" && d.WebhookID != webhookID) {
			return novamed.NotFound("Delivery")
		}
		if err != nil {
			return err
		}
		var live int
		if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM webhooks WHERE id = ? AND deleted_at IS NULL`, d.WebhookID).Scan(&live); err != nil {
			return err
		}
		if live == 0 {
			return novamed.NotFound("Webhook")
		}
		now := s.now().UTC().Truncate(time.Microsecond)
		// A manual retry goes out at once, outside its order's sequence:
		// clearing the key means it neither waits nor holds others back.
		if _, err := tx.exec(ctx, `UPDATE deliveries SET status = ?, next_attempt_at = ?, updated_at = ?, ordering_key = '' WHERE id = ?`,
			novamed.DeliveryPending, micros(now), micros(now), id); err != nil {
			return fmt.Errorf("sqlstore: retry delivery: %w", err)
		}
		d.Status, d.NextAttemptAt, d.UpdatedAt = novamed.DeliveryPending, &now, now
		return nil
	})
	return d, err
}

// PendingDeliveries counts deliveries waiting for an attempt.
func (s *Store) PendingDeliveries(ctx context.Context) (int, error) {
	var n int
	err := s.read.queryRow(ctx, `SELECT COUNT(*) FROM deliveries WHERE status = ?`, novamed.DeliveryPending).Scan(&n)
	return n, err
}
