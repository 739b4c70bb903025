package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

const practitionerColumns = `id, clinic_id, status, first_name, last_name, email, npi, details, created_at`

// practitionerDetails is the sealed JSON of a practitioner's other fields.
type practitionerDetails struct {
	IsVeterinarian    bool            `json:"is_veterinarian"`
	Phone             string          `json:"phone,omitempty"`
	Credentials       string          `json:"credentials,omitempty"`
	Specialty         string          `json:"specialty,omitempty"`
	LicenseNumber     string          `json:"license_number,omitempty"`
	LicenseState      string          `json:"license_state,omitempty"`
	LicenseExpiration string          `json:"license_expiration,omitempty"`
	DEANumber         string          `json:"dea_number,omitempty"`
	DEAExpiration     string          `json:"dea_expiration,omitempty"`
	SignatureImage    string          `json:"signature_image,omitempty"`
	Address           novamed.Address `json:"address"`
}

// CreatePractitioner stores p with its effects in one transaction.
func (s *Store) CreatePractitioner(ctx context.Context, p *novamed.Practitioner, eff novamed.Effects) error {
	z := s.sealer("practitioners", p.ID)
	first, last, email, npi := z.str("first_name", p.FirstName), z.str("last_name", p.LastName), z.str("email", p.Email), z.str("npi", p.NPI)
	details := z.json("details", practitionerDetailsOf(p))
	if z.err != nil {
		return z.err
	}
	var npiIndex string
	err := s.inTx(ctx, func(tx *txn) error {
		if err := s.writeEffects(ctx, tx, novamed.Effects{Idempotency: eff.Idempotency}); err != nil {
			return err
		}
		var old string
		var err error
		npiIndex, old, err = s.blindIndex(ctx, tx, "practitioner-npi", p.NPI)
		if err != nil {
			return err
		}
		if old != "" {
			// See CreatePatient.
			if err := s.duplicateUnder(ctx, tx, "practitioner npi", `SELECT id FROM practitioners WHERE clinic_id = ? AND npi_index = ?`, p.ClinicID, old); err != nil {
				return err
			}
		}
		_, err = tx.exec(ctx, insertPractitionerSQL,
			p.ID, p.ClinicID, p.Status, npiIndex, first, last, email, npi, details, micros(p.CreatedAt))
		if s.syntax.isUnique(err) {
			return &novamed.DuplicateError{What: "practitioner npi"}
		}
		if err != nil {
			return fmt.Errorf("sqlstore: insert practitioner: %w", err)
		}
		return s.writeEffects(ctx, tx, novamed.Effects{Audit: eff.Audit})
	})
	return s.withExistingID(ctx, err, `SELECT id FROM practitioners WHERE clinic_id = ? AND npi_index = ?`, p.ClinicID, npiIndex)
}

// practitionerDetailsOf is the sealed part of p.
func practitionerDetailsOf(p *novamed.Practitioner) practitionerDetails {
	return practitionerDetails{
		IsVeterinarian: p.IsVeterinarian, Phone: p.Phone, Credentials: p.Credentials, Specialty: p.Specialty,
		LicenseNumber: p.LicenseNumber, LicenseState: p.LicenseState, LicenseExpiration: p.LicenseExpiration,
		DEANumber: p.DEANumber, DEAExpiration: p.DEAExpiration, SignatureImage: p.SignatureImage, Address: p.Address,
	}
}

// UpdatePractitioner replaces the stored fields of practitioner p.ID (in
// clinic p.ClinicID; its status stays the store's) with p's, re-sealing
// them and re-computing the NPI index, and records practitioner:updated
// with eff in one transaction. Another practitioner with the same NPI in
// the clinic is a DuplicateError naming it.
func (s *Store) UpdatePractitioner(ctx context.Context, p *novamed.Practitioner, eff novamed.Effects) (*novamed.Event, error) {
	z := s.sealer("practitioners", p.ID)
	first, last, email, npi := z.str("first_name", p.FirstName), z.str("last_name", p.LastName), z.str("email", p.Email), z.str("npi", p.NPI)
	details := z.json("details", practitionerDetailsOf(p))
	if z.err != nil {
		return nil, z.err
	}
	var ev *novamed.Event
	var npiIndex string
	err := s.inTx(ctx, func(tx *txn) error {
		if err := s.writeEffects(ctx, tx, novamed.Effects{Idempotency: eff.Idempotency}); err != nil {
			return err
		}
		var old string
		var err error
		npiIndex, old, err = s.blindIndex(ctx, tx, "practitioner-npi", p.NPI)
		if err != nil {
			return err
		}
		if old != "" {
			// See CreatePatient; the practitioner itself is no duplicate.
			if err := s.duplicateUnder(ctx, tx, "practitioner npi", `SELECT id FROM practitioners WHERE clinic_id = ? AND npi_index = ? AND id <> ?`, p.ClinicID, old, p.ID); err != nil {
				return err
			}
		}
		res, err := tx.exec(ctx, `UPDATE practitioners SET npi_index = ?, first_name = ?, last_name = ?, email = ?, npi = ?, details = ?
			WHERE id = ? AND clinic_id = ?`, npiIndex, first, last, email, npi, details, p.ID, p.ClinicID)
		if s.syntax.isUnique(err) {
			return &novamed.DuplicateError{What: "practitioner npi"}
		}
		if err != nil {
			return fmt.Errorf("sqlstore: update practitioner: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return novamed.NotFound("Practitioner")
		}
		if err := tx.queryRow(ctx, `SELECT status FROM practitioners WHERE id = ?`, p.ID).Scan(&p.Status); err != nil {
			return fmt.Errorf("sqlstore: practitioner status: %w", err)
		}
		ev = &novamed.Event{ClinicID: p.ClinicID, Name: novamed.EventPractitionerUpdated,
			Data: novamed.PractitionerUpdatedData(p), CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
		if err := s.insertEvent(ctx, tx, ev); err != nil {
			return err
		}
		return s.writeEffects(ctx, tx, novamed.Effects{Audit: eff.Audit})
	})
	err = s.withExistingID(ctx, err, `SELECT id FROM practitioners WHERE clinic_id = ? AND npi_index = ? AND id <> ?`, p.ClinicID, npiIndex, p.ID)
	if err != nil {
		return nil, err
	}
	return ev, nil
}

func (s *Store) scanPractitioner(r rowScanner) (*novamed.Practitioner, error) {
	var p novamed.Practitioner
	var first, last, email, npi, details string
	var created int64
	if err := r.Scan(&p.ID, &p.ClinicID, &p.Status, &first, &last, &email, &npi, &details, &created); err != nil {
		return nil, err
	}
	o := s.opener("practitioners", p.ID)
	p.FirstName, p.LastName, p.Email, p.NPI = o.str("first_name", first), o.str("last_name", last), o.str("email", email), o.str("npi", npi)
	var d practitionerDetails
	o.json("details", details, &d)
	if o.err != nil {
		return nil, o.err
	}
	p.IsVeterinarian, p.Phone, p.Credentials, p.Specialty = d.IsVeterinarian, d.Phone, d.Credentials, d.Specialty
	p.LicenseNumber, p.LicenseState, p.LicenseExpiration = d.LicenseNumber, d.LicenseState, d.LicenseExpiration
	p.DEANumber, p.DEAExpiration, p.SignatureImage, p.Address = d.DEANumber, d.DEAExpiration, d.SignatureImage, d.Address
	p.CreatedAt = fromMicros(created)
	return &p, nil
}

// GetPractitioner returns a practitioner of one of clinics, or "Practitioner not found".
func (s *Store) GetPractitioner(ctx context.Context, id string, clinics []string) (*novamed.Practitioner, error) {
	p, ok, err := getScoped(ctx, s, "practitioners", practitionerColumns, id, clinics, s.scanPractitioner)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, novamed.NotFound("Practitioner")
	}
	return p, nil
}

// ListPractitioners returns one page of practitioners, newest first.
func (s *Store) ListPractitioners(ctx context.Context, f novamed.ListFilter) ([]*novamed.Practitioner, string, error) {
	return listPage(ctx, s, "practitioners", practitionerColumns, f, s.scanPractitioner, func(p *novamed.Practitioner) string { return p.ID })
}

const insertPractitionerSQL = `INSERT INTO practitioners (id, clinic_id, status, npi_index, first_name, last_name, email, npi, details, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
