package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

const partnerColumns = `id, name, contacts, status, created_at, updated_at`

const baaColumns = `id, partner_id, signed_on, signer, document, expires_on, recorded_by, recorded_at`

// baaOrder picks a partner's BAA on record: the one signed last, and of
// two signed the same day the one recorded last.
const baaOrder = ` ORDER BY signed_on DESC, recorded_at DESC, id DESC LIMIT 1`

func scanPartner(r rowScanner) (*novamed.Partner, error) {
	var p novamed.Partner
	var contacts, status string
	var created, updated int64
	if err := r.Scan(&p.ID, &p.Name, &contacts, &status, &created, &updated); err != nil {
		return nil, err
	}
	p.Status = novamed.PartnerStatus(status)
	p.CreatedAt, p.UpdatedAt = fromMicros(created), fromMicros(updated)
	p.Contacts = []string{}
	if err := json.Unmarshal([]byte(contacts), &p.Contacts); err != nil {
		return nil, fmt.Errorf("sqlstore: partner %s contacts: %w", p.ID, err)
	}
	return &p, nil
}

func scanBAA(r rowScanner) (*novamed.BAA, error) {
	var b novamed.BAA
	var expires sql.NullString
	var recorded int64
	if err := r.Scan(&b.ID, &b.PartnerID, &b.SignedOn, &b.Signer, &b.Document, &expires, &b.RecordedBy, &recorded); err != nil {
		return nil, err
	}
	b.ExpiresOn, b.RecordedAt = expires.String, fromMicros(recorded)
	return &b, nil
}

// partnerBAA loads p's BAA on record.
func (s *Store) partnerBAA(ctx context.Context, q querier, p *novamed.Partner) error {
	b, err := scanBAA(q.queryRow(ctx, `SELECT `+baaColumns+` FROM baas WHERE partner_id = ?`+baaOrder, p.ID))
	if errors.Is(err, sql.ErrNoRows) {
		p.BAA = nil
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlstore: partner baa: %w", err)
	}
	p.BAA = b
	return nil
}

// CreatePartner stores a new partner.
func (s *Store) CreatePartner(ctx context.Context, p *novamed.Partner, eff novamed.Effects) error {
	if p.Contacts == nil {
		p.Contacts = []string{}
	}
	contacts, err := json.Marshal(p.Contacts)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *txn) error {
		_, err := tx.exec(ctx, `INSERT INTO partners (`+partnerColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
			p.ID, p.Name, string(contacts), string(p.Status), micros(p.CreatedAt), micros(p.UpdatedAt))
		if s.syntax.isUnique(err) {
			return fmt.Errorf("partner %s: %w", p.ID, novamed.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("sqlstore: create partner: %w", err)
		}
		return s.writeEffects(ctx, tx, eff)
	})
}

// EnsureDevPartner creates the default development partner (approved,
// without a BAA) unless it exists.
func (s *Store) EnsureDevPartner(ctx context.Context, at time.Time) error {
	return s.inTx(ctx, func(tx *txn) error {
		_, err := tx.exec(ctx, `INSERT INTO partners (`+partnerColumns+`) VALUES (?, ?, '[]', ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			novamed.DevPartnerID, novamed.DevPartnerName, string(novamed.PartnerApproved), micros(at), micros(at))
		if err != nil {
			return fmt.Errorf("sqlstore: development partner: %w", err)
		}
		return nil
	})
}

// GetPartner returns one partner with its BAA on record.
func (s *Store) GetPartner(ctx context.Context, id string) (*novamed.Partner, error) {
	p, err := scanPartner(s.read.queryRow(ctx, `SELECT `+partnerColumns+` FROM partners WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, novamed.NotFound("Partner")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: get partner: %w", err)
	}
	return p, s.partnerBAA(ctx, s.read, p)
}

// ListPartners returns every partner, oldest first, each with its BAA on
// record.
func (s *Store) ListPartners(ctx context.Context) ([]*novamed.Partner, error) {
	rows, err := s.read.query(ctx, `SELECT `+partnerColumns+` FROM partners ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list partners: %w", err)
	}
	out := []*novamed.Partner{}
	for rows.Next() {
		p, err := scanPartner(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlstore: list partners: %w", err)
		}
		out = append(out, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// One query for every partner's BAAs; the first of each (in baaOrder)
	// is the one on record.
	brows, err := s.read.query(ctx, `SELECT `+baaColumns+` FROM baas ORDER BY partner_id, signed_on DESC, recorded_at DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list baas: %w", err)
	}
	defer brows.Close()
	byID := make(map[string]*novamed.Partner, len(out))
	for _, p := range out {
		byID[p.ID] = p
	}
	for brows.Next() {
		b, err := scanBAA(brows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list baas: %w", err)
		}
		if p := byID[b.PartnerID]; p != nil && p.BAA == nil {
			p.BAA = b
		}
	}
	return out, brows.Err()
}

// lockPartner reads a partner (and its BAA) inside a write transaction,
// locking its row.
func (s *Store) lockPartner(ctx context.Context, tx *txn, id string) (*novamed.Partner, error) {
	p, err := scanPartner(tx.queryRow(ctx, `SELECT `+partnerColumns+` FROM partners WHERE id = ?`+s.syntax.forUpdate(), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, novamed.NotFound("Partner")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: lock partner: %w", err)
	}
	return p, s.partnerBAA(ctx, tx, p)
}

// SetPartnerStatus applies approve, suspend or reinstate.
func (s *Store) SetPartnerStatus(ctx context.Context, id, action string, at time.Time, eff novamed.Effects) (*novamed.Partner, error) {
	at = at.UTC().Truncate(time.Microsecond)
	var out *novamed.Partner
	err := s.inTx(ctx, func(tx *txn) error {
		p, err := s.lockPartner(ctx, tx, id)
		if err != nil {
			return err
		}
		to, err := p.Status.Transition(action)
		if err != nil {
			return err
		}
		if to != p.Status {
			if _, err := tx.exec(ctx, `UPDATE partners SET status = ?, updated_at = ? WHERE id = ?`, string(to), micros(at), id); err != nil {
				return fmt.Errorf("sqlstore: partner status: %w", err)
			}
			p.Status, p.UpdatedAt = to, at
		}
		out = p
		return s.writeEffects(ctx, tx, eff)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RecordBAA stores a BAA of partner b.PartnerID.
func (s *Store) RecordBAA(ctx context.Context, b *novamed.BAA, eff novamed.Effects) (*novamed.Partner, error) {
	b.RecordedAt = b.RecordedAt.UTC().Truncate(time.Microsecond)
	var out *novamed.Partner
	err := s.inTx(ctx, func(tx *txn) error {
		if _, err := s.lockPartner(ctx, tx, b.PartnerID); err != nil {
			return err
		}
		var expires sql.NullString
		if b.ExpiresOn != "" {
			expires = sql.NullString{String: b.ExpiresOn, Valid: true}
		}
		_, err := tx.exec(ctx, `INSERT INTO baas (`+baaColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			b.ID, b.PartnerID, b.SignedOn, b.Signer, b.Document, expires, b.RecordedBy, micros(b.RecordedAt))
		if s.syntax.isUnique(err) {
			return fmt.Errorf("baa %s: %w", b.ID, novamed.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("sqlstore: record baa: %w", err)
		}
		if _, err := tx.exec(ctx, `UPDATE partners SET updated_at = ? WHERE id = ?`, micros(b.RecordedAt), b.PartnerID); err != nil {
			return fmt.Errorf("sqlstore: record baa: %w", err)
		}
		p, err := s.lockPartner(ctx, tx, b.PartnerID)
		if err != nil {
			return err
		}
		out = p
		return s.writeEffects(ctx, tx, eff)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// clinicsPartner is the one partner of clinics ("" when none of them has
// one), read in tx; clinics of different partners cannot share a key.
func (s *Store) clinicsPartner(ctx context.Context, tx *txn, clinics []string) (string, error) {
	var partners []string
	for _, c := range clinics {
		var p sql.NullString
		err := tx.queryRow(ctx, `SELECT partner_id FROM clinics WHERE id = ?`, c).Scan(&p)
		if errors.Is(err, sql.ErrNoRows) {
			return "", novamed.ErrClinicNotFound()
		}
		if err != nil {
			return "", fmt.Errorf("sqlstore: check clinic: %w", err)
		}
		if !slices.Contains(partners, p.String) {
			partners = append(partners, p.String)
		}
	}
	if len(partners) > 1 {
		return "", novamed.Errorf(novamed.CodeInvalid, "The clinics belong to different partners: a key is issued to one partner for some of its clinics.")
	}
	if len(partners) == 0 {
		return "", nil
	}
	return partners[0], nil
}

// IssueAPIKey stores k after check accepted the partner of its clinics
// (nil when they have none), read and locked in the same transaction, so
// that a suspension or BAA change cannot slip between the check and the
// insert.
func (s *Store) IssueAPIKey(ctx context.Context, k *novamed.APIKey, check func(*novamed.Partner) error, eff novamed.Effects) error {
	return s.inTx(ctx, func(tx *txn) error {
		if err := s.issueKey(ctx, tx, k, check); err != nil {
			return err
		}
		return s.writeEffects(ctx, tx, eff)
	})
}

// issueKey is IssueAPIKey inside the caller's transaction.
func (s *Store) issueKey(ctx context.Context, tx *txn, k *novamed.APIKey, check func(*novamed.Partner) error) error {
	if len(k.Clinics) == 0 {
		return novamed.Errorf(novamed.CodeInvalid, "A key must be granted at least one clinic.")
	}
	if err := s.checkClinicsPartner(ctx, tx, k.Clinics, check); err != nil {
		return err
	}
	return s.insertKey(ctx, tx, k)
}

// checkClinicsPartner runs check on the partner of clinics (nil when
// they have none), read and locked in tx: a suspension or BAA change
// cannot slip between the check and what the caller writes next.
func (s *Store) checkClinicsPartner(ctx context.Context, tx *txn, clinics []string, check func(*novamed.Partner) error) error {
	pid, err := s.clinicsPartner(ctx, tx, clinics)
	if err != nil {
		return err
	}
	var p *novamed.Partner
	if pid != "" {
		if p, err = s.lockPartner(ctx, tx, pid); err != nil {
			return err
		}
	}
	return check(p)
}

// keyPartner loads the partner state authentication needs into k.
func (s *Store) keyPartner(ctx context.Context, q querier, k *novamed.APIKey) error {
	if k.PartnerID == "" {
		k.Partner = nil
		return nil
	}
	var status string
	err := q.queryRow(ctx, `SELECT status FROM partners WHERE id = ?`, k.PartnerID).Scan(&status)
	if err != nil {
		return fmt.Errorf("sqlstore: key partner: %w", err)
	}
	p := &novamed.Partner{ID: k.PartnerID, Status: novamed.PartnerStatus(status)}
	if err := s.partnerBAA(ctx, q, p); err != nil {
		return err
	}
	k.Partner = &novamed.PartnerKeyState{Status: p.Status, HasBAA: p.BAA != nil, BAAExpiresAt: p.BAA.ExpiresAt()}
	return nil
}

// UpdateClinic changes a clinic's name and/or free shipping (nil: kept),
// with its effects.
func (s *Store) UpdateClinic(ctx context.Context, id string, name *string, freeShipping *bool, eff novamed.Effects) (*novamed.Clinic, error) {
	err := s.inTx(ctx, func(tx *txn) error {
		var one int
		err := tx.queryRow(ctx, `SELECT 1 FROM clinics WHERE id = ?`+s.syntax.forUpdate(), id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return novamed.ErrClinicNotFound()
		}
		if err != nil {
			return fmt.Errorf("sqlstore: update clinic: %w", err)
		}
		if name != nil {
			if _, err := tx.exec(ctx, `UPDATE clinics SET name = ? WHERE id = ?`, *name, id); err != nil {
				return fmt.Errorf("sqlstore: update clinic: %w", err)
			}
		}
		if freeShipping != nil {
			if _, err := tx.exec(ctx, `UPDATE clinics SET free_shipping = ? WHERE id = ?`, boolInt(*freeShipping), id); err != nil {
				return fmt.Errorf("sqlstore: update clinic: %w", err)
			}
		}
		return s.writeEffects(ctx, tx, eff)
	})
	if err != nil {
		return nil, err
	}
	return s.GetClinic(ctx, id)
}
