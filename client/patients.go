package client

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"time"
)

// Contact is one contact point of a patient; Key is email, phone, url, sms or fax.
type Contact struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ContactPreferences says how a patient prefers to be contacted.
type ContactPreferences struct {
	Email bool `json:"email"`
	SMS   bool `json:"sms"`
	Phone bool `json:"phone"`
}

// Patient is a person (or animal) registered for a clinic.
type Patient struct {
	ID                  string              `json:"id"`
	ClinicID            string              `json:"clinic_id"`
	PractitionerID      string              `json:"practitioner_id,omitempty"`
	Status              string              `json:"status"` // active or inactive
	FirstName           string              `json:"first_name"`
	MiddleName          string              `json:"middle_name,omitempty"`
	LastName            string              `json:"last_name"`
	DateOfBirth         string              `json:"date_of_birth"` // YYYY-MM-DD
	Gender              string              `json:"gender,omitempty"`
	Species             string              `json:"species"`
	AnimalOwnerName     string              `json:"animal_owner_name,omitempty"`
	Weight              string              `json:"weight,omitempty"`
	WeightRecordedDate  string              `json:"weight_recorded_date,omitempty"`
	Height              string              `json:"height,omitempty"`
	Email               string              `json:"email,omitempty"`
	Phone               string              `json:"phone,omitempty"`
	Contacts            []Contact           `json:"contacts"`
	Address             Address             `json:"address"`
	MedicationAllergies []string            `json:"medication_allergies"`
	MedicalHistory      string              `json:"medical_history,omitempty"`
	ContactPreferences  *ContactPreferences `json:"preferred_contact_methods,omitempty"`
	Notes               string              `json:"notes,omitempty"`
	CreatedAt           time.Time           `json:"created_at"`
}

// CreatePatientRequest registers a patient. ClinicID, FirstName, LastName
// and DateOfBirth are required. Orders ship to Address, so give it (with
// State) before ordering.
type CreatePatientRequest struct {
	ClinicID            string              `json:"clinic_id"`
	FirstName           string              `json:"first_name"`
	MiddleName          string              `json:"middle_name,omitempty"`
	LastName            string              `json:"last_name"`
	DateOfBirth         string              `json:"date_of_birth"`    // YYYY-MM-DD
	Gender              string              `json:"gender,omitempty"` // male, female, other or unknown
	Species             string              `json:"species,omitempty"`
	AnimalOwnerName     string              `json:"animal_owner_name,omitempty"` // required unless Species is human
	Weight              string              `json:"weight,omitempty"`            // decimal text, e.g. "180.5"
	WeightRecordedDate  string              `json:"weight_recorded_date,omitempty"`
	Height              string              `json:"height,omitempty"`
	Status              string              `json:"status,omitempty"` // active (default) or inactive
	PractitionerID      string              `json:"practitioner_id,omitempty"`
	Email               string              `json:"email,omitempty"`
	Phone               string              `json:"phone,omitempty"`
	Contacts            []Contact           `json:"contacts,omitempty"`
	Address             *Address            `json:"address,omitempty"`
	MedicationAllergies []string            `json:"medication_allergies,omitempty"`
	MedicalHistory      string              `json:"medical_history,omitempty"`
	ContactPreferences  *ContactPreferences `json:"preferred_contact_methods,omitempty"`
	Notes               string              `json:"notes,omitempty"`
}

// MarshalJSON sends the address in the spelling the server reads.
func (r CreatePatientRequest) MarshalJSON() ([]byte, error) {
	type plain CreatePatientRequest
	return json.Marshal(struct {
		plain
		Address *wireAddress `json:"address,omitempty"`
	}{plain(r), toWire(r.Address)})
}

// PatientsService is /api/external/patient.
type PatientsService struct{ c *Client }

const patientPath = "/api/external/patient"

// Create registers a patient. A patient with the same first name, last name
// and date of birth in the clinic is a 400 DUPLICATE.
func (s *PatientsService) Create(ctx context.Context, req *CreatePatientRequest, opts ...CallOption) (*Patient, error) {
	var p Patient
	if err := s.c.call(ctx, call{method: http.MethodPost, path: patientPath, body: req}, &p, opts); err != nil {
		return nil, err
	}
	return &p, nil
}

// Get returns one patient; an unknown id is a 404 (IsNotFound).
func (s *PatientsService) Get(ctx context.Context, id string, opts ...CallOption) (*Patient, error) {
	var p Patient
	if err := s.c.get(ctx, patientPath+"/"+pathEscape(id), nil, &p, opts); err != nil {
		return nil, err
	}
	return &p, nil
}

// List ranges over patients, newest first, fetching pages as needed.
func (s *PatientsService) List(ctx context.Context, p ListParams, opts ...CallOption) iter.Seq2[*Patient, error] {
	return paginate[Patient](ctx, s.c, patientPath, p.values(), opts)
}

// ListPage fetches one page of patients.
func (s *PatientsService) ListPage(ctx context.Context, p ListParams, opts ...CallOption) (*Page[Patient], error) {
	return listPage[Patient](ctx, s.c, patientPath, p.values(), opts)
}
