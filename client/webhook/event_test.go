package webhook

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	ev, err := Parse([]byte(`{"event_name":"medication_order:verified","event_data":{"id":"o1","clinic_id":"c1","patient_id":"p1",` +
		`"practitioner_id":"d1","status":"verified","rx_number":"RX1000001","rx_numbers":["RX1000001"],"extra":1}}`))
	if err != nil || ev.Name != EventOrderVerified || !ev.IsOrderEvent() {
		t.Fatalf("Parse = %+v, %v", ev, err)
	}
	o, err := ev.Order()
	if err != nil || o.ID != "o1" || o.ClinicID != "c1" || o.PatientID != "p1" || o.PractitionerID != "d1" || o.Status != "verified" ||
		o.RxNumber != "RX1000001" || len(o.RxNumbers) != 1 || o.ShipmentID != "" {
		t.Fatalf("Order = %+v, %v", o, err)
	}
	if _, err := ev.PractitionerActivated(); !errors.Is(err, ErrWrongEvent) {
		t.Fatalf("PractitionerActivated of an order event: %v", err)
	}
	if _, err := ev.Test(); !errors.Is(err, ErrWrongEvent) {
		t.Fatalf("Test of an order event: %v", err)
	}

	ev, err = Parse([]byte(`{"event_name":"practitioner:activated","event_data":{"practitioner_id":"d1","practitioner_name":"Sarah Johnson",` +
		`"practitioner_email":"s@x.co","practitioner_phone":"5125550100","practitioner_npi":"1234567893","practitioner_status":"active"}}`))
	if err != nil || ev.IsOrderEvent() {
		t.Fatalf("Parse = %+v, %v", ev, err)
	}
	p, err := ev.PractitionerActivated()
	if err != nil || *p != (PractitionerActivated{"d1", "Sarah Johnson", "s@x.co", "5125550100", "1234567893", "active"}) {
		t.Fatalf("PractitionerActivated = %+v, %v", p, err)
	}
	if _, err := ev.Order(); !errors.Is(err, ErrWrongEvent) {
		t.Fatalf("Order of a practitioner event: %v", err)
	}

	ev, err = Parse([]byte(`{"event_name":"some:future_event"}`))
	if err != nil || string(ev.Data) != "{}" {
		t.Fatalf("unknown event: %+v, %v", ev, err)
	}
	for _, bad := range []string{``, `[]`, `{"event_data":{}}`, `{"event_name":5}`, `not json`} {
		if _, err := Parse([]byte(bad)); !errors.Is(err, ErrMalformedEvent) {
			t.Errorf("Parse(%q) = %v", bad, err)
		}
	}
	ev, _ = Parse([]byte(`{"event_name":"shipment:created","event_data":{"id":5}}`))
	if o, err := ev.Order(); o != nil || !errors.Is(err, ErrMalformedEvent) {
		t.Errorf("mistyped event_data: %+v, %v", o, err)
	}
}

func TestVerifyAndParse(t *testing.T) {
	body := []byte(`{"event_name":"webhook:test","event_data":{"webhook_id":"w1","clinic_id":"c1","message":"hi"}}`)
	now := time.Now()
	h := signed(t, "d1", now, body)
	ev, err := VerifyAndParse(secret, h, body, time.Minute)
	if err != nil || ev.ID != "d1" || ev.Timestamp.Unix() != now.Unix() {
		t.Fatalf("VerifyAndParse = %+v, %v", ev, err)
	}
	if d, err := ev.Test(); err != nil || d.WebhookID != "w1" || d.Message != "hi" {
		t.Fatalf("Test = %+v, %v", d, err)
	}
	if _, err := VerifyAndParse(secret, h, append(body, ' '), time.Minute); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("changed body: %v", err)
	}
	if _, err := VerifyAndParse(secret, http.Header{}, body, time.Minute); !errors.Is(err, ErrMissingHeaders) {
		t.Fatalf("no headers: %v", err)
	}
	old := signed(t, "d1", now.Add(-time.Hour), body)
	if _, err := VerifyAndParse(secret, old, body, time.Minute); !errors.Is(err, ErrBadTimestamp) {
		t.Fatalf("old: %v", err)
	}
	// A correctly signed body that is not an event verifies but does not parse.
	junk := []byte(`[1,2]`)
	if _, err := VerifyAndParse(secret, signed(t, "d2", now, junk), junk, time.Minute); !errors.Is(err, ErrMalformedEvent) {
		t.Fatalf("junk: %v", err)
	}
}
