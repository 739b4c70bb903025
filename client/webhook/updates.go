package webhook

import "fmt"

// Events NovaMed adds to the published ones: a partner changed a record
// (PATCH). Their data are read with PatientUpdated and PractitionerUpdated.
const (
	EventPatientUpdated      = "patient:updated"
	EventPractitionerUpdated = "practitioner:updated"
)

// PatientUpdated is the event_data of patient:updated: which patient
// changed (never its PHI; read the patient for its fields).
type PatientUpdated struct {
	PatientID string `json:"patient_id"`
	ClinicID  string `json:"clinic_id"`
}

// PatientUpdated returns the data of a patient:updated event, else ErrWrongEvent.
func (e *Event) PatientUpdated() (*PatientUpdated, error) {
	if e.Name != EventPatientUpdated {
		return nil, fmt.Errorf("%w: %s is not %s", ErrWrongEvent, e.Name, EventPatientUpdated)
	}
	var p PatientUpdated
	if err := e.decode(&p); err != nil {
		return nil, err
	}
	return &p, nil
}

// PractitionerUpdated is the event_data of practitioner:updated: the
// practitioner as changed, in the shape of practitioner:activated's, and
// its clinic.
type PractitionerUpdated struct {
	PractitionerActivated
	ClinicID string `json:"clinic_id"`
}

// PractitionerUpdated returns the data of a practitioner:updated event,
// else ErrWrongEvent.
func (e *Event) PractitionerUpdated() (*PractitionerUpdated, error) {
	if e.Name != EventPractitionerUpdated {
		return nil, fmt.Errorf("%w: %s is not %s", ErrWrongEvent, e.Name, EventPractitionerUpdated)
	}
	var p PractitionerUpdated
	if err := e.decode(&p); err != nil {
		return nil, err
	}
	return &p, nil
}

// CancelledByPartner reports whether a medication_order:cancelled event is
// the partner's own cancellation (POST …/cancel), whose Reason is set.
func (e *Event) CancelledByPartner() bool {
	if e.Name != EventOrderCancelled {
		return false
	}
	var d struct {
		CancelledBy string `json:"cancelled_by"`
	}
	return e.decode(&d) == nil && d.CancelledBy == "partner"
}
