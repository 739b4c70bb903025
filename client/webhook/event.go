package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Event names a delivery's body carries in event_name.
const (
	EventOrderVerified         = "medication_order:verified"
	EventOrderSubmitted        = "medication_order:submitted"
	EventOrderAcknowledged     = "medication_order:acknowledged"
	EventOrderFilled           = "medication_order:filled"
	EventOrderDelivered        = "medication_order:delivered"
	EventOrderCancelled        = "medication_order:cancelled"
	EventShipmentCreated       = "shipment:created"
	EventShipmentCancelled     = "shipment:cancelled" // the order is filled again; OrderEvent.Reason says why
	EventPractitionerActivated = "practitioner:activated"
	EventTest                  = "webhook:test"
)

// ErrMalformedEvent is returned by Parse for a body that is not an event.
var ErrMalformedEvent = errors.New("webhook: body is not a NovaMed event")

// ErrWrongEvent is returned by a typed accessor called on another kind of event.
var ErrWrongEvent = errors.New("webhook: event is of another kind")

// Event is a delivery's body: {"event_name": …, "event_data": {…}}.
type Event struct {
	Name string          `json:"event_name"`
	Data json.RawMessage `json:"event_data"`
	// ID is the delivery's webhook-id header, the same on every retry of
	// the delivery: de-duplicate on it. Set by VerifyAndParse.
	ID string `json:"-"`
	// Timestamp is the signed webhook-timestamp. Set by VerifyAndParse.
	Timestamp time.Time `json:"-"`
}

// Parse reads a delivery's body. It does not verify it: use VerifyAndParse
// on anything that arrived over the network.
func Parse(body []byte) (*Event, error) {
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedEvent, err)
	}
	if ev.Name == "" {
		return nil, fmt.Errorf("%w: no event_name", ErrMalformedEvent)
	}
	if len(ev.Data) == 0 || string(ev.Data) == "null" {
		ev.Data = json.RawMessage("{}")
	}
	return &ev, nil
}

// VerifyAndParse verifies a delivery like Verify (signature and timestamp
// within tolerance of now) and then parses it; ID and Timestamp come from the
// headers. Answer 401 when it returns an error wrapping ErrBadSignature,
// ErrBadTimestamp or ErrMissingHeaders.
func VerifyAndParse(secret string, h http.Header, body []byte, tolerance time.Duration) (*Event, error) {
	if err := Verify(secret, h, body, tolerance); err != nil {
		return nil, err
	}
	ev, err := Parse(body)
	if err != nil {
		return nil, err
	}
	ev.ID = h.Get(HeaderID)
	if sec, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64); err == nil {
		ev.Timestamp = time.Unix(sec, 0)
	}
	return ev, nil
}

// IsOrderEvent reports whether the event is about a medication order
// (medication_order:* and shipment:*); read it with Order.
func (e *Event) IsOrderEvent() bool {
	return strings.HasPrefix(e.Name, "medication_order:") || strings.HasPrefix(e.Name, "shipment:")
}

// OrderEvent is the event_data of medication_order:* and shipment:* events.
// The shipment fields are set once the order has shipped.
type OrderEvent struct {
	ID               string   `json:"id"` // the medication order
	ClinicID         string   `json:"clinic_id"`
	PatientID        string   `json:"patient_id"`
	PractitionerID   string   `json:"practitioner_id"`
	RxNumber         string   `json:"rx_number,omitempty"`  // the first Rx number (assigned at verification)
	RxNumbers        []string `json:"rx_numbers,omitempty"` // every item's Rx number
	Status           string   `json:"status"`
	ShippingLabel    string   `json:"shipping_label,omitempty"`
	ShipmentID       string   `json:"shipment_id,omitempty"`
	ShipmentProvider string   `json:"shipment_provider,omitempty"`
	TrackingURL      string   `json:"tracking_url,omitempty"`
	TrackingNumber   string   `json:"tracking_number,omitempty"`
	// Reason is why the shipment was cancelled (shipment:cancelled only;
	// the shipment fields then name the cancelled shipment).
	Reason string `json:"reason,omitempty"`
}

// Order returns the data of an order event (IsOrderEvent), else ErrWrongEvent.
func (e *Event) Order() (*OrderEvent, error) {
	if !e.IsOrderEvent() {
		return nil, fmt.Errorf("%w: %s is not an order event", ErrWrongEvent, e.Name)
	}
	var o OrderEvent
	if err := e.decode(&o); err != nil {
		return nil, err
	}
	return &o, nil
}

// PractitionerActivated is the event_data of practitioner:activated.
type PractitionerActivated struct {
	PractitionerID     string `json:"practitioner_id"`
	PractitionerName   string `json:"practitioner_name"`
	PractitionerEmail  string `json:"practitioner_email"`
	PractitionerPhone  string `json:"practitioner_phone"`
	PractitionerNPI    string `json:"practitioner_npi"`
	PractitionerStatus string `json:"practitioner_status"`
}

// PractitionerActivated returns the data of a practitioner:activated event,
// else ErrWrongEvent.
func (e *Event) PractitionerActivated() (*PractitionerActivated, error) {
	if e.Name != EventPractitionerActivated {
		return nil, fmt.Errorf("%w: %s is not %s", ErrWrongEvent, e.Name, EventPractitionerActivated)
	}
	var p PractitionerActivated
	if err := e.decode(&p); err != nil {
		return nil, err
	}
	return &p, nil
}

// TestEvent is the event_data of webhook:test.
type TestEvent struct {
	WebhookID string `json:"webhook_id"`
	ClinicID  string `json:"clinic_id"`
	Message   string `json:"message"`
}

// Test returns the data of a webhook:test event, else ErrWrongEvent.
func (e *Event) Test() (*TestEvent, error) {
	if e.Name != EventTest {
		return nil, fmt.Errorf("%w: %s is not %s", ErrWrongEvent, e.Name, EventTest)
	}
	var t TestEvent
	if err := e.decode(&t); err != nil {
		return nil, err
	}
	return &t, nil
}

func (e *Event) decode(v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("%w: event_data of %s: %v", ErrMalformedEvent, e.Name, err)
	}
	return nil
}
