package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

const patientColumns = `id, clinic_id, practitioner_id, status, first_name, last_name, date_of_birth, details, created_at`

// patientDetails is the sealed JSON of a patient's other PHI.
type patientDetails struct {
	MiddleName          string                      `json:"middle_name,omitempty"`
	Gender              string                      `json:"gender,omitempty"`
	Species             string                      `json:"species"`
	AnimalOwnerName     string                      `json:"animal_owner_name,omitempty"`
	Weight              string                      `json:"weight,omitempty"`
	WeightRecordedDate  string                      `json:"weight_recorded_date,omitempty"`
	Height              string                      `json:"height,omitempty"`
	Email               string                      `json:"email,omitempty"`
	Phone               string                      `json:"phone,omitempty"`
	Contacts            []novamed.Contact           `json:"contacts"`
	Address             novamed.Address             `json:"address"`
	MedicationAllergies []string                    `json:"medication_allergies"`
	MedicalHistory      string                      `json:"medical_history,omitempty"`
	ContactPreferences  *novamed.ContactPreferences `json:"preferred_contact_methods,omitempty"`
	Notes               string                      `json:"notes,omitempty"`
}

// CreatePatient stores p with its effects in one transaction. The
// practitioner, when given, must belong to the patient's clinic.
func (s *Store) CreatePatient(ctx context.Context, p *novamed.Patient, eff novamed.Effects) error {
	row, err := s.patientRow(p)
	if err != nil {
		return err
	}
	if s.dialect == Postgres {
		if identity, done, err := s.createPatientPostgres(ctx, p, eff, row); done {
			return s.withExistingID(ctx, err, `SELECT id FROM patients WHERE clinic_id = ? AND identity_index = ?`, p.ClinicID, identity)
		}
	}
	var identity string
	err = s.inTx(ctx, func(tx *txn) error {
		if err := s.writeEffects(ctx, tx, novamed.Effects{Idempotency: eff.Idempotency}); err != nil {
			return err
		}
		if err := s.checkPatientPractitioner(ctx, tx, p); err != nil {
			return err
		}
		var old string
		var err error
		identity, old, err = s.blindIndex(ctx, tx, "patient-identity", identityIndexValue(p.FirstName, p.LastName, p.DateOfBirth))
		if err != nil {
			return err
		}
		if old != "" {
			// A re-index is moving the indexes: a duplicate may still
			// carry the index under the version being left.
			if err := s.duplicateUnder(ctx, tx, "patient identity", `SELECT id FROM patients WHERE clinic_id = ? AND identity_index = ?`, p.ClinicID, old); err != nil {
				return err
			}
		}
		row[patientIdentityArg] = identity
		_, err = tx.exec(ctx, insertPatientSQL, row...)
		if s.syntax.isUnique(err) {
			return &novamed.DuplicateError{What: "patient identity"}
		}
		if err != nil {
			return fmt.Errorf("sqlstore: insert patient: %w", err)
		}
		return s.writeEffects(ctx, tx, novamed.Effects{Audit: eff.Audit})
	})
	return s.withExistingID(ctx, err, `SELECT id FROM patients WHERE clinic_id = ? AND identity_index = ?`, p.ClinicID, identity)
}

// patientRow is insertPatientSQL's values for p, its PHI sealed, with the
// identity index (row[patientIdentityArg]) left for the create to fill
// under the key version it reads.
func (s *Store) patientRow(p *novamed.Patient) ([]any, error) {
	z := s.sealer("patients", p.ID)
	first, last, dob := z.str("first_name", p.FirstName), z.str("last_name", p.LastName), z.str("date_of_birth", p.DateOfBirth)
	details := z.json("details", patientDetailsOf(p))
	if z.err != nil {
		return nil, z.err
	}
	var practitioner sql.NullString
	if p.PractitionerID != "" {
		practitioner = sql.NullString{String: p.PractitionerID, Valid: true}
	}
	return []any{p.ID, p.ClinicID, practitioner, p.Status, "", first, last, dob, details, micros(p.CreatedAt)}, nil
}

// patientIdentityArg is the identity index's position in patientRow.
const patientIdentityArg = 4

// patientDetailsOf is the sealed part of p.
func patientDetailsOf(p *novamed.Patient) patientDetails {
	return patientDetails{
		MiddleName: p.MiddleName, Gender: p.Gender, Species: p.Species, AnimalOwnerName: p.AnimalOwnerName,
		Weight: p.Weight, WeightRecordedDate: p.WeightRecordedDate, Height: p.Height, Email: p.Email, Phone: p.Phone,
		Contacts: p.Contacts, Address: p.Address, MedicationAllergies: p.MedicationAllergies,
		MedicalHistory: p.MedicalHistory, ContactPreferences: p.ContactPreferences, Notes: p.Notes,
	}
}

// checkPatientPractitioner refuses a practitioner_id that does not name a
// practitioner of the patient's clinic.
func (s *Store) checkPatientPractitioner(ctx context.Context, tx *txn, p *novamed.Patient) error {
	if p.PractitionerID == "" {
		return nil
	}
	var one int
	err := tx.queryRow(ctx, `SELECT 1 FROM practitioners WHERE id = ? AND clinic_id = ?`, p.PractitionerID, p.ClinicID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return errNotClinicPractitioner()
	}
	if err != nil {
		return fmt.Errorf("sqlstore: check practitioner: %w", err)
	}
	return nil
}

// errNotClinicPractitioner refuses a patient's practitioner_id.
func errNotClinicPractitioner() error {
	return novamed.ValidationError([]novamed.FieldError{{Field: "practitioner_id", Message: "practitioner_id does not name a practitioner of this clinic."}})
}

func (s *Store) scanPatient(r rowScanner) (*novamed.Patient, error) {
	var p novamed.Patient
	var practitioner sql.NullString
	var first, last, dob, details string
	var created int64
	if err := r.Scan(&p.ID, &p.ClinicID, &practitioner, &p.Status, &first, &last, &dob, &details, &created); err != nil {
		return nil, err
	}
	o := s.opener("patients", p.ID)
	p.FirstName, p.LastName, p.DateOfBirth = o.str("first_name", first), o.str("last_name", last), o.str("date_of_birth", dob)
	var d patientDetails
	o.decode("details", details, func(b []byte) error { return decodePatientDetails(b, &d) })
	if o.err != nil {
		return nil, o.err
	}
	p.PractitionerID = practitioner.String
	p.MiddleName, p.Gender, p.Species, p.AnimalOwnerName = d.MiddleName, d.Gender, d.Species, d.AnimalOwnerName
	p.Weight, p.WeightRecordedDate, p.Height, p.Email, p.Phone = d.Weight, d.WeightRecordedDate, d.Height, d.Email, d.Phone
	p.Contacts, p.Address, p.MedicationAllergies = d.Contacts, d.Address, d.MedicationAllergies
	p.MedicalHistory, p.ContactPreferences, p.Notes = d.MedicalHistory, d.ContactPreferences, d.Notes
	if p.Contacts == nil {
		p.Contacts = []novamed.Contact{}
	}
	if p.MedicationAllergies == nil {
		p.MedicationAllergies = []string{}
	}
	p.CreatedAt = fromMicros(created)
	return &p, nil
}

// GetPatient returns a patient of one of clinics, or "Patient not found".
func (s *Store) GetPatient(ctx context.Context, id string, clinics []string) (*novamed.Patient, error) {
	p, ok, err := getScoped(ctx, s, "patients", patientColumns, id, clinics, s.scanPatient)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, novamed.NotFound("Patient")
	}
	return p, nil
}

// ListPatients returns one page of patients, newest first.
func (s *Store) ListPatients(ctx context.Context, f novamed.ListFilter) ([]*novamed.Patient, string, error) {
	return listPage(ctx, s, "patients", patientColumns, f, s.scanPatient, func(p *novamed.Patient) string { return p.ID })
}

// UpdatePatient replaces the stored fields of patient p.ID (in clinic
// p.ClinicID) with p's, re-sealing its PHI and re-computing its identity
// index, and records patient:updated with eff in one transaction. A
// second patient of the same identity is a DuplicateError naming it.
func (s *Store) UpdatePatient(ctx context.Context, p *novamed.Patient, eff novamed.Effects) (*novamed.Event, error) {
	z := s.sealer("patients", p.ID)
	first, last, dob := z.str("first_name", p.FirstName), z.str("last_name", p.LastName), z.str("date_of_birth", p.DateOfBirth)
	details := z.json("details", patientDetailsOf(p))
	if z.err != nil {
		return nil, z.err
	}
	var practitioner sql.NullString
	if p.PractitionerID != "" {
		practitioner = sql.NullString{String: p.PractitionerID, Valid: true}
	}
	var ev *novamed.Event
	var identity string
	err := s.inTx(ctx, func(tx *txn) error {
		if err := s.writeEffects(ctx, tx, novamed.Effects{Idempotency: eff.Idempotency}); err != nil {
			return err
		}
		if err := s.checkPatientPractitioner(ctx, tx, p); err != nil {
			return err
		}
		var old string
		var err error
		identity, old, err = s.blindIndex(ctx, tx, "patient-identity", identityIndexValue(p.FirstName, p.LastName, p.DateOfBirth))
		if err != nil {
			return err
		}
		if old != "" {
			// See CreatePatient; the patient itself is no duplicate.
			if err := s.duplicateUnder(ctx, tx, "patient identity", `SELECT id FROM patients WHERE clinic_id = ? AND identity_index = ? AND id <> ?`, p.ClinicID, old, p.ID); err != nil {
				return err
			}
		}
		res, err := tx.exec(ctx, `UPDATE patients SET practitioner_id = ?, status = ?, identity_index = ?, first_name = ?, last_name = ?,
			date_of_birth = ?, details = ? WHERE id = ? AND clinic_id = ?`,
			practitioner, p.Status, identity, first, last, dob, details, p.ID, p.ClinicID)
		if s.syntax.isUnique(err) {
			return &novamed.DuplicateError{What: "patient identity"}
		}
		if err != nil {
			return fmt.Errorf("sqlstore: update patient: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return novamed.NotFound("Patient")
		}
		ev = &novamed.Event{ClinicID: p.ClinicID, Name: novamed.EventPatientUpdated,
			Data: novamed.PatientUpdatedData(p), CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
		if err := s.insertEvent(ctx, tx, ev); err != nil {
			return err
		}
		return s.writeEffects(ctx, tx, novamed.Effects{Audit: eff.Audit})
	})
	err = s.withExistingID(ctx, err, `SELECT id FROM patients WHERE clinic_id = ? AND identity_index = ? AND id <> ?`, p.ClinicID, identity, p.ID)
	if err != nil {
		return nil, err
	}
	return ev, nil
}

const insertPatientSQL = `INSERT INTO patients (id, clinic_id, practitioner_id, status, identity_index, first_name, last_name, date_of_birth, details, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
