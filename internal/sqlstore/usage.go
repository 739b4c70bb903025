package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// AddUsage upserts counters and records last activity in one transaction.
func (s *Store) AddUsage(ctx context.Context, counts []novamed.UsageCount, activity []novamed.KeyActivity) error {
	if len(counts) == 0 && len(activity) == 0 {
		return nil
	}
	// A fixed row order keeps two replicas' flushes from deadlocking on PostgreSQL.
	counts, activity = slices.Clone(counts), slices.Clone(activity)
	slices.SortFunc(counts, func(a, b novamed.UsageCount) int {
		return cmp.Or(cmp.Compare(a.KeyID, b.KeyID), cmp.Compare(a.Day, b.Day), cmp.Compare(a.Route, b.Route), cmp.Compare(a.StatusClass, b.StatusClass))
	})
	slices.SortFunc(activity, func(a, b novamed.KeyActivity) int { return cmp.Compare(a.KeyID, b.KeyID) })
	return s.inTx(ctx, func(tx *txn) error {
		for _, c := range counts {
			if _, err := tx.exec(ctx, `INSERT INTO key_usage (key_id, day, route, status_class, count) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (key_id, day, route, status_class) DO UPDATE SET count = key_usage.count + excluded.count`,
				c.KeyID, c.Day, c.Route, c.StatusClass, c.Count); err != nil {
				return fmt.Errorf("sqlstore: add usage: %w", err)
			}
		}
		for _, a := range activity {
			if _, err := tx.exec(ctx, `UPDATE api_keys SET last_used_at = ?, last_client = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)`,
				micros(a.LastUsedAt), a.LastClient, a.KeyID, micros(a.LastUsedAt)); err != nil {
				return fmt.Errorf("sqlstore: key activity: %w", err)
			}
		}
		return nil
	})
}

// Usage returns a key's counters since a day.
func (s *Store) Usage(ctx context.Context, keyID, since string) ([]novamed.UsageCount, error) {
	rows, err := s.read.query(ctx, `SELECT key_id, day, route, status_class, count FROM key_usage WHERE key_id = ? AND day >= ?
		ORDER BY day, route, status_class`, keyID, since)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: usage: %w", err)
	}
	defer rows.Close()
	out := []novamed.UsageCount{}
	for rows.Next() {
		var c novamed.UsageCount
		if err := rows.Scan(&c.KeyID, &c.Day, &c.Route, &c.StatusClass, &c.Count); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// KeyNetworks lists the networks a key was used from.
func (s *Store) KeyNetworks(ctx context.Context, keyID string) ([]string, error) {
	rows, err := s.read.query(ctx, `SELECT network FROM key_networks WHERE key_id = ?`, keyID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: key networks: %w", err)
	}
	return collectIDs(rows)
}

// AddKeyNetwork remembers a network of a key.
func (s *Store) AddKeyNetwork(ctx context.Context, keyID, network string, at time.Time) error {
	return s.inTx(ctx, func(tx *txn) error {
		_, err := tx.exec(ctx, `INSERT INTO key_networks (key_id, network, first_seen) VALUES (?, ?, ?) ON CONFLICT (key_id, network) DO NOTHING`,
			keyID, network, micros(at))
		return err
	})
}

// KeyPrefixes maps the display prefixes of unrevoked keys to their ids.
func (s *Store) KeyPrefixes(ctx context.Context) (map[string]string, error) {
	rows, err := s.read.query(ctx, `SELECT prefix, id FROM api_keys WHERE revoked_at IS NULL`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: key prefixes: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var p, id string
		if err := rows.Scan(&p, &id); err != nil {
			return nil, err
		}
		out[p] = id
	}
	return out, rows.Err()
}

// RecordSecurityEvent stores an event and its audit record together.
func (s *Store) RecordSecurityEvent(ctx context.Context, ev *novamed.SecurityEvent, rec *novamed.AuditRecord) error {
	detail, err := json.Marshal(ev.Detail)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *txn) error {
		if _, err := tx.exec(ctx, `INSERT INTO security_events (id, at, rule, key_id, client_addr, detail) VALUES (?, ?, ?, ?, ?, ?)`,
			ev.ID, micros(ev.At), ev.Rule, ev.KeyID, ev.ClientAddr, string(detail)); err != nil {
			return fmt.Errorf("sqlstore: security event: %w", err)
		}
		if rec == nil {
			return nil
		}
		return s.appendAudit(ctx, tx, []*novamed.AuditRecord{rec})
	})
}

// ListSecurityEvents returns events since a time, oldest first.
func (s *Store) ListSecurityEvents(ctx context.Context, since time.Time, limit int) ([]*novamed.SecurityEvent, error) {
	return s.scanSecurityEvents(ctx, `SELECT `+securityEventColumns+` FROM security_events WHERE at >= ? ORDER BY at, id LIMIT ?`,
		micros(since), limit)
}

const securityEventColumns = `id, at, rule, key_id, client_addr, detail, acknowledged_at, acknowledged_by`

func (s *Store) scanSecurityEvents(ctx context.Context, query string, args ...any) ([]*novamed.SecurityEvent, error) {
	rows, err := s.read.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: security events: %w", err)
	}
	defer rows.Close()
	out := []*novamed.SecurityEvent{}
	for rows.Next() {
		ev, err := scanSecurityEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

func scanSecurityEvent(r rowScanner) (*novamed.SecurityEvent, error) {
	var ev novamed.SecurityEvent
	var at int64
	var ack sql.NullInt64
	var detail string
	if err := r.Scan(&ev.ID, &at, &ev.Rule, &ev.KeyID, &ev.ClientAddr, &detail, &ack, &ev.AcknowledgedBy); err != nil {
		return nil, err
	}
	ev.At = fromMicros(at)
	if ack.Valid {
		t := fromMicros(ack.Int64)
		ev.AcknowledgedAt = &t
	}
	if err := json.Unmarshal([]byte(detail), &ev.Detail); err != nil {
		return nil, err
	}
	return &ev, nil
}

// FindSecurityEvents returns the events f selects, newest first.
func (s *Store) FindSecurityEvents(ctx context.Context, f novamed.SecurityEventFilter) ([]*novamed.SecurityEvent, error) {
	where, args := []string{"at >= ?"}, []any{micros(f.Since)}
	if f.Rule != "" {
		where, args = append(where, "rule = ?"), append(args, f.Rule)
	}
	if f.KeyID != "" {
		where, args = append(where, "key_id = ?"), append(args, f.KeyID)
	}
	switch f.State {
	case "open":
		where = append(where, "acknowledged_at IS NULL")
	case "acknowledged":
		where = append(where, "acknowledged_at IS NOT NULL")
	}
	if f.Before != "" {
		var at int64
		err := s.read.queryRow(ctx, `SELECT at FROM security_events WHERE id = ?`, f.Before).Scan(&at)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, novamed.Errorf(novamed.CodeInvalid, "The page cursor does not name a security event.")
		}
		if err != nil {
			return nil, fmt.Errorf("sqlstore: security events: %w", err)
		}
		where, args = append(where, "(at < ? OR (at = ? AND id < ?))"), append(args, at, at, f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	return s.scanSecurityEvents(ctx, `SELECT `+securityEventColumns+` FROM security_events WHERE `+strings.Join(where, " AND ")+
		` ORDER BY at DESC, id DESC LIMIT ?`, append(args, limit)...)
}

// CountOpenSecurityEvents counts the unacknowledged events since a time,
// stopping at max+1 (the overview shows "max+").
func (s *Store) CountOpenSecurityEvents(ctx context.Context, since time.Time, max int) (int, error) {
	var n int
	err := s.read.queryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM security_events WHERE acknowledged_at IS NULL AND at >= ? LIMIT ?) o`,
		micros(since), max+1).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: open security events: %w", err)
	}
	return n, nil
}

// AcknowledgeSecurityEvent marks an open event acknowledged by actor
// (operator:<id>) at a time, with its audit record in the same
// transaction. An unknown id is NOT_FOUND; an event already acknowledged
// is INVALID_TRANSITION and changes nothing.
func (s *Store) AcknowledgeSecurityEvent(ctx context.Context, id, actor string, at time.Time, rec *novamed.AuditRecord) (*novamed.SecurityEvent, error) {
	var ev *novamed.SecurityEvent
	err := s.inTx(ctx, func(tx *txn) error {
		var err error
		ev, err = scanSecurityEvent(tx.queryRow(ctx, `SELECT `+securityEventColumns+` FROM security_events WHERE id = ?`+s.syntax.forUpdate(), id))
		if errors.Is(err, sql.ErrNoRows) {
			return novamed.Errorf(novamed.CodeNotFound, "No security event has this id.")
		}
		if err != nil {
			return fmt.Errorf("sqlstore: acknowledge security event: %w", err)
		}
		if ev.AcknowledgedAt != nil {
			return novamed.Errorf(novamed.CodeInvalidTransition, "This event was already acknowledged by %s.", ev.AcknowledgedBy)
		}
		res, err := tx.exec(ctx, `UPDATE security_events SET acknowledged_at = ?, acknowledged_by = ? WHERE id = ? AND acknowledged_at IS NULL`,
			micros(at), actor, id)
		if err != nil {
			return fmt.Errorf("sqlstore: acknowledge security event: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return novamed.Errorf(novamed.CodeInvalidTransition, "This event was already acknowledged.")
		}
		t := fromMicros(micros(at))
		ev.AcknowledgedAt, ev.AcknowledgedBy = &t, actor
		if rec == nil {
			return nil
		}
		return s.appendAudit(ctx, tx, []*novamed.AuditRecord{rec})
	})
	if err != nil {
		return nil, err
	}
	return ev, nil
}
