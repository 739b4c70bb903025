package client

import (
	"context"
	"encoding/json"
	"net/http"
)

// Ptr returns a pointer to v: the fields of an update request are pointers,
// so that a field left nil is not sent and stays as stored.
func Ptr[T any](v T) *T { return &v }

// UpdatePatientRequest changes a patient (a JSON merge patch): a nil field
// is not sent and keeps its stored value; a field set replaces it; Clear
// names fields to remove (sent as null, e.g. "middle_name", "address"). The
// address given is merged into the stored one member by member (set only
// what changes); Contacts and MedicationAllergies replace the stored lists
// whole. The result is checked like a create (IsValidation), and a new
// name or date of birth that is another patient's is a 400 DUPLICATE
// (IsConflict). Orders already placed keep the address they were placed with.
type UpdatePatientRequest struct {
	FirstName           *string             `json:"first_name,omitempty"`
	MiddleName          *string             `json:"middle_name,omitempty"`
	LastName            *string             `json:"last_name,omitempty"`
	DateOfBirth         *string             `json:"date_of_birth,omitempty"` // YYYY-MM-DD
	Gender              *string             `json:"gender,omitempty"`
	Species             *string             `json:"species,omitempty"`
	AnimalOwnerName     *string             `json:"animal_owner_name,omitempty"`
	Weight              *string             `json:"weight,omitempty"`
	WeightRecordedDate  *string             `json:"weight_recorded_date,omitempty"`
	Height              *string             `json:"height,omitempty"`
	Status              *string             `json:"status,omitempty"`
	PractitionerID      *string             `json:"practitioner_id,omitempty"`
	Email               *string             `json:"email,omitempty"`
	Phone               *string             `json:"phone,omitempty"`
	Contacts            *[]Contact          `json:"contacts,omitempty"`
	Address             *Address            `json:"address,omitempty"`
	MedicationAllergies *[]string           `json:"medication_allergies,omitempty"`
	MedicalHistory      *string             `json:"medical_history,omitempty"`
	ContactPreferences  *ContactPreferences `json:"preferred_contact_methods,omitempty"`
	Notes               *string             `json:"notes,omitempty"`
	// Clear names fields to remove (JSON names, sent as null).
	Clear []string `json:"-"`
}

// MarshalJSON writes the merge patch: the fields set, the address in the
// spelling the server reads, and null for each of Clear.
func (r UpdatePatientRequest) MarshalJSON() ([]byte, error) {
	type plain UpdatePatientRequest
	return mergePatch(struct {
		plain
		Address *wireAddress `json:"address,omitempty"`
	}{plain(r), toWire(r.Address)}, r.Clear)
}

// UpdatePractitionerRequest changes a practitioner (a JSON merge patch)
// with the rules of UpdatePatientRequest; a new NPI that is another
// practitioner's in the clinic is a 400 DUPLICATE (IsConflict). The
// practitioner's status is NovaMed's and cannot be changed.
type UpdatePractitionerRequest struct {
	FirstName         *string  `json:"first_name,omitempty"`
	LastName          *string  `json:"last_name,omitempty"`
	Email             *string  `json:"email,omitempty"`
	NPI               *string  `json:"npi,omitempty"`
	IsVeterinarian    *bool    `json:"is_veterinarian,omitempty"`
	Phone             *string  `json:"phone,omitempty"`
	Credentials       *string  `json:"credentials,omitempty"`
	Specialty         *string  `json:"specialty,omitempty"`
	LicenseNumber     *string  `json:"license_number,omitempty"`
	LicenseState      *string  `json:"license_state,omitempty"`
	LicenseExpiration *string  `json:"license_expiration,omitempty"` // YYYY-MM-DD
	DEANumber         *string  `json:"dea_number,omitempty"`
	DEAExpiration     *string  `json:"dea_expiration,omitempty"` // YYYY-MM-DD
	SignatureImage    *string  `json:"signature_image,omitempty"`
	Address           *Address `json:"address,omitempty"`
	// Clear names fields to remove (JSON names, sent as null).
	Clear []string `json:"-"`
}

// MarshalJSON writes the merge patch (see UpdatePatientRequest.MarshalJSON).
func (r UpdatePractitionerRequest) MarshalJSON() ([]byte, error) {
	type plain UpdatePractitionerRequest
	return mergePatch(struct {
		plain
		Address *wireAddress `json:"address,omitempty"`
	}{plain(r), toWire(r.Address)}, r.Clear)
}

// mergePatch encodes v as an object and adds a null member for each of clear.
func mergePatch(v any, clear []string) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || len(clear) == 0 {
		return b, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for _, f := range clear {
		m[f] = json.RawMessage("null")
	}
	return json.Marshal(m)
}

// Update changes a patient of your clinics (PATCH, a JSON merge patch) and
// returns it as now stored; your webhooks receive patient:updated. It is
// sent with an Idempotency-Key, so retries apply it once.
func (s *PatientsService) Update(ctx context.Context, id string, req *UpdatePatientRequest, opts ...CallOption) (*Patient, error) {
	var p Patient
	if err := s.c.call(ctx, call{method: http.MethodPatch, path: patientPath + "/" + pathEscape(id), body: req}, &p, opts); err != nil {
		return nil, err
	}
	return &p, nil
}

// Update changes a practitioner of your clinics (PATCH, a JSON merge
// patch) and returns it as now stored; your webhooks receive
// practitioner:updated.
func (s *PractitionersService) Update(ctx context.Context, id string, req *UpdatePractitionerRequest, opts ...CallOption) (*Practitioner, error) {
	var p Practitioner
	if err := s.c.call(ctx, call{method: http.MethodPatch, path: practitionerPath + "/" + pathEscape(id), body: req}, &p, opts); err != nil {
		return nil, err
	}
	return &p, nil
}

// Cancel cancels an order that is still created or verified, for reason
// (required, one line); your webhooks receive medication_order:cancelled,
// and a refill's order gives its refill back. A later order is a 400
// ORDER_NOT_CANCELLABLE (IsValidation) whose message names its status.
func (s *MedicationOrdersService) Cancel(ctx context.Context, id, reason string, opts ...CallOption) (*MedicationOrder, error) {
	var o MedicationOrder
	body := map[string]string{"reason": reason}
	if err := s.c.call(ctx, call{method: http.MethodPost, path: orderPath + "/" + pathEscape(id) + "/cancel", body: body}, &o, opts); err != nil {
		return nil, err
	}
	return &o, nil
}
