package webhook

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// TestUpdateEvents: the events NovaMed adds read back with their ids, and
// the delivery's id and timestamp come from the Standard Webhooks headers.
func TestUpdateEvents(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"event_name":"practitioner:updated","event_data":{"practitioner_id":"p1","clinic_id":"c1","practitioner_name":"Sarah Johnson","practitioner_email":"s@clinic.test","practitioner_phone":"","practitioner_npi":"1234567893","practitioner_status":"active"}}`)
	at := time.Now().Truncate(time.Second)
	sig, err := Sign(secret, "msg_1", at, body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(HeaderID, "msg_1")
	h.Set(HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	h.Set(HeaderSignature, sig)
	ev, err := VerifyAndParse(secret, h, body, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID != "msg_1" || !ev.Timestamp.Equal(at) {
		t.Errorf("id %q timestamp %v, want msg_1 %v", ev.ID, ev.Timestamp, at)
	}
	p, err := ev.PractitionerUpdated()
	if err != nil || p.PractitionerID != "p1" || p.ClinicID != "c1" || p.PractitionerNPI != "1234567893" {
		t.Errorf("PractitionerUpdated: %+v %v", p, err)
	}
	if _, err := ev.PatientUpdated(); !errors.Is(err, ErrWrongEvent) {
		t.Errorf("PatientUpdated of a practitioner event: %v", err)
	}
	pe, _ := Parse([]byte(`{"event_name":"patient:updated","event_data":{"patient_id":"x","clinic_id":"c1"}}`))
	if pu, err := pe.PatientUpdated(); err != nil || pu.PatientID != "x" {
		t.Errorf("PatientUpdated: %+v %v", pu, err)
	}
	cancelled, _ := Parse([]byte(`{"event_name":"medication_order:cancelled","event_data":{"id":"o1","status":"cancelled","reason":"switched","cancelled_by":"partner"}}`))
	if o, err := cancelled.Order(); err != nil || !cancelled.CancelledByPartner() || o.Reason != "switched" {
		t.Errorf("partner cancellation: %+v %v", o, err)
	}
	byNovaMed, _ := Parse([]byte(`{"event_name":"medication_order:cancelled","event_data":{"id":"o1","status":"cancelled"}}`))
	if byNovaMed.CancelledByPartner() {
		t.Error("NovaMed's cancellation read as the partner's")
	}
}
