package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// insertEvent writes an event into the outbox inside the change's
// transaction and queues a delivery for each of the clinic's webhooks.
func (s *Store) insertEvent(ctx context.Context, tx *txn, ev *novamed.Event) error {
	if err := s.insertEventOnly(ctx, tx, ev); err != nil {
		return err
	}
	_, err := s.fanOut(ctx, tx, ev, "")
	return err
}

func (s *Store) insertEventOnly(ctx context.Context, tx *txn, ev *novamed.Event) error {
	if ev.ID == "" {
		ev.ID = newEventID()
	}
	z := s.sealer("events", ev.ID)
	data := z.json("data", ev.Data)
	if z.err != nil {
		return z.err
	}
	if _, err := tx.exec(ctx, `INSERT INTO events (id, clinic_id, name, data, created_at) VALUES (?, ?, ?, ?, ?)`,
		ev.ID, ev.ClinicID, ev.Name, data, micros(ev.CreatedAt)); err != nil {
		return fmt.Errorf("sqlstore: insert event: %w", err)
	}
	return nil
}

func (s *Store) scanEvent(r rowScanner) (*novamed.Event, error) {
	var ev novamed.Event
	var data string
	var created int64
	if err := r.Scan(&ev.ID, &ev.ClinicID, &ev.Name, &data, &created); err != nil {
		return nil, err
	}
	o := s.opener("events", ev.ID)
	o.json("data", data, &ev.Data)
	if o.err != nil {
		return nil, o.err
	}
	ev.CreatedAt = fromMicros(created)
	return &ev, nil
}

// ListEvents returns a clinic's events after an id, oldest first.
func (s *Store) ListEvents(ctx context.Context, clinicID, after string, limit int) ([]*novamed.Event, error) {
	rows, err := s.read.query(ctx, `SELECT id, clinic_id, name, data, created_at FROM events WHERE clinic_id = ? AND id > ? ORDER BY id LIMIT ?`,
		clinicID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list events: %w", err)
	}
	defer rows.Close()
	out := []*novamed.Event{}
	for rows.Next() {
		ev, err := s.scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

// ActivatePractitioner marks a pending practitioner active and records
// practitioner:activated; activating an active one changes nothing.
func (s *Store) ActivatePractitioner(ctx context.Context, id string) (*novamed.Practitioner, *novamed.Event, error) {
	var p *novamed.Practitioner
	var ev *novamed.Event
	err := s.inTx(ctx, func(tx *txn) error {
		var err error
		p, err = s.scanPractitioner(tx.queryRow(ctx, `SELECT `+practitionerColumns+` FROM practitioners WHERE id = ?`+s.syntax.forUpdate(), id))
		if errors.Is(err, sql.ErrNoRows) {
			return novamed.NotFound("Practitioner")
		}
		if err != nil {
			return err
		}
		if p.Status == novamed.PractitionerActive {
			return nil
		}
		res, err := tx.exec(ctx, `UPDATE practitioners SET status = ? WHERE id = ? AND status = ?`, novamed.PractitionerActive, id, p.Status)
		if err != nil {
			return fmt.Errorf("sqlstore: activate: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		p.Status = novamed.PractitionerActive
		ev = &novamed.Event{ClinicID: p.ClinicID, Name: novamed.EventPractitionerActivated,
			Data: novamed.PractitionerActivatedData(p), CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
		return s.insertEvent(ctx, tx, ev)
	})
	if err != nil {
		return nil, nil, err
	}
	return p, ev, nil
}

// PendingPractitioners lists practitioners awaiting verification, oldest first.
func (s *Store) PendingPractitioners(ctx context.Context, limit int) ([]string, error) {
	rows, err := s.read.query(ctx, `SELECT id FROM practitioners WHERE status = ? ORDER BY id LIMIT ?`, novamed.PractitionerPending, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: pending practitioners: %w", err)
	}
	return collectIDs(rows)
}
