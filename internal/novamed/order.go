package novamed

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Order statuses, in lifecycle order.
const (
	OrderCreated      = "created"
	OrderVerified     = "verified"
	OrderSubmitted    = "submitted"
	OrderAcknowledged = "acknowledged"
	OrderFilled       = "filled"
	OrderShipped      = "shipped"
	OrderDelivered    = "delivered"
	OrderCancelled    = "cancelled"
)

// OrderLifecycle is the forward path of an order.
var OrderLifecycle = []string{OrderCreated, OrderVerified, OrderSubmitted, OrderAcknowledged, OrderFilled, OrderShipped, OrderDelivered}

// Event names the partner receives by webhook.
const (
	EventOrderVerified         = "medication_order:verified"
	EventOrderSubmitted        = "medication_order:submitted"
	EventOrderAcknowledged     = "medication_order:acknowledged"
	EventOrderFilled           = "medication_order:filled"
	EventOrderDelivered        = "medication_order:delivered"
	EventOrderCancelled        = "medication_order:cancelled"
	EventShipmentCreated       = "shipment:created"
	EventShipmentCancelled     = "shipment:cancelled"
	EventPractitionerActivated = "practitioner:activated"
	// EventPatientUpdated and EventPractitionerUpdated are NovaMed's
	// additions to the published events: a partner changed the record.
	EventPatientUpdated      = "patient:updated"
	EventPractitionerUpdated = "practitioner:updated"
	EventWebhookTest         = "webhook:test"
)

// Delivery speeds of the older shipping shape.
var DeliverySpeeds = []string{"next-day", "business-day"}

// Shipment statuses: an order has at most one active shipment; a cancelled
// one stays on the order's record.
const (
	ShipmentActive    = "active"
	ShipmentCancelled = "cancelled"
)

// Shipment is what NovaMed's pharmacy records when an order ships. An order
// may have several: each cancelled shipment stays, and shipping again adds
// a new one.
type Shipment struct {
	ID                string     `json:"shipment_id"`
	Status            string     `json:"status"` // active or cancelled
	Provider          string     `json:"shipment_provider"`
	TrackingNumber    string     `json:"tracking_number"`
	TrackingURL       string     `json:"tracking_url"`
	LabelURL          string     `json:"shipping_label"`
	EstimatedDelivery string     `json:"estimated_delivery,omitempty"`
	ShippedAt         time.Time  `json:"shipped_at"`
	DeliveredAt       *time.Time `json:"delivered_at,omitempty"`
	CancelledAt       *time.Time `json:"cancelled_at,omitempty"`
	CancelReason      string     `json:"cancel_reason,omitempty"`
}

// MedicationRequest is one prescribed item of an order.
type MedicationRequest struct {
	ID                                    string `json:"id"`
	OrderID                               string `json:"medication_order_id"`
	RootID                                string `json:"original_medication_request_id"` // the first request of a refill lineage
	Medication                            string `json:"medication"`
	Dose                                  string `json:"dose"`
	UnitOfMeasure                         string `json:"unit_of_measure"`
	Quantity                              string `json:"quantity"`
	Direction                             string `json:"sig"`
	RefillsAuthorized                     int    `json:"refills_authorized"`
	RefillsRemaining                      int    `json:"refills_remaining"`
	DaysSupply                            int    `json:"days_supply,omitempty"`
	Flavor                                string `json:"flavor,omitempty"`
	Notes                                 string `json:"notes,omitempty"`
	DoNotRefill                           bool   `json:"do_not_refill"`
	DoNotFill                             bool   `json:"do_not_fill"`
	PatientContactRequested               bool   `json:"patient_contact_requested"`
	ReasonForCompounding                  string `json:"reason_for_compounding,omitempty"`
	ReasonForCompoundingAdditionalContext string `json:"reason_for_compounding_additional_context,omitempty"`
	RxNumber                              string `json:"rx_number,omitempty"`
	IssueDate                             string `json:"issue_date"`
}

// MedicationOrder is a prescription order for one patient.
type MedicationOrder struct {
	ID              string  `json:"id"`
	ClinicID        string  `json:"clinic_id"`
	PatientID       string  `json:"patient_id"`
	PractitionerID  string  `json:"practitioner_id"`
	Status          string  `json:"status"`
	CarrierID       string  `json:"carrier_id"`
	ServiceID       string  `json:"service_id"`
	DeliverySpeed   string  `json:"delivery_speed,omitempty"`
	ShippingCost    float64 `json:"shipping_cost"`
	IsRefrigerated  bool    `json:"is_refrigerated"`
	ShipmentGroupID string  `json:"shipment_group_id,omitempty"`
	RefillRequestID string  `json:"refill_request_id,omitempty"`
	// ShippingAddress is where the order ships when it is not the
	// patient's address (a refill may name one); nil means the patient's.
	ShippingAddress *Address             `json:"shipping_address,omitempty"`
	PaymentMethodID string               `json:"payment_method_id,omitempty"`
	Items           []*MedicationRequest `json:"medication_requests"`
	// Shipment is the active shipment (nil before shipping and after a
	// cancelled one); Shipments lists every shipment, oldest first, and
	// holds Shipment too.
	Shipment  *Shipment   `json:"shipment"`
	Shipments []*Shipment `json:"shipments"`
	CreatedAt time.Time   `json:"created_at"`
	UpdatedAt time.Time   `json:"updated_at"`
}

// Event is a state change a partner is told about, stored in the same
// transaction as the change (the outbox) and delivered by webhook.
type Event struct {
	ID        string         `json:"id"`
	ClinicID  string         `json:"clinic_id"`
	Name      string         `json:"event_name"`
	Data      map[string]any `json:"event_data"`
	CreatedAt time.Time      `json:"created_at"`
}

var transitionEvents = map[string]string{
	OrderVerified:     EventOrderVerified,
	OrderSubmitted:    EventOrderSubmitted,
	OrderAcknowledged: EventOrderAcknowledged,
	OrderFilled:       EventOrderFilled,
	OrderShipped:      EventShipmentCreated,
	OrderDelivered:    EventOrderDelivered,
	OrderCancelled:    EventOrderCancelled,
}

// NextStatus returns the status after s on the forward path ("" at the end).
func NextStatus(s string) string {
	for i, st := range OrderLifecycle {
		if st == s && i+1 < len(OrderLifecycle) {
			return OrderLifecycle[i+1]
		}
	}
	return ""
}

// CanTransition reports whether an order may move from one status to another:
// one step forward, or to cancelled from any status before shipped.
func CanTransition(from, to string) bool {
	if to == OrderCancelled {
		switch from {
		case OrderCreated, OrderVerified, OrderSubmitted, OrderAcknowledged, OrderFilled:
			return true
		}
		return false
	}
	return to != "" && NextStatus(from) == to
}

// Transition moves o to status to at time at, assigning rx numbers at
// verification (rx returns the next one) and the shipment when shipped, and
// returns the event the change causes. Illegal transitions are errors.
func (o *MedicationOrder) Transition(to string, at time.Time, shipment *Shipment, rx func() (string, error)) (*Event, error) {
	if !CanTransition(o.Status, to) {
		return nil, &Error{Code: CodeInvalidTransition, Message: fmt.Sprintf("An order in status %s cannot move to %s.", o.Status, to)}
	}
	switch to {
	case OrderVerified:
		for _, it := range o.Items {
			if it.RxNumber == "" {
				n, err := rx()
				if err != nil {
					return nil, err
				}
				it.RxNumber = n
			}
		}
	case OrderShipped:
		if shipment == nil || shipment.TrackingNumber == "" {
			return nil, &Error{Code: CodeInvalidTransition, Message: "Shipping an order needs a tracking number."}
		}
		s := *shipment
		s.ShippedAt, s.Status, s.CancelledAt, s.CancelReason = at, ShipmentActive, nil, ""
		o.Shipment = &s
		o.Shipments = append(o.Shipments, &s)
	case OrderDelivered:
		if o.Shipment != nil {
			t := at
			o.Shipment.DeliveredAt = &t
		}
	}
	o.Status, o.UpdatedAt = to, at
	return &Event{ClinicID: o.ClinicID, Name: transitionEvents[to], Data: o.EventData(), CreatedAt: at}, nil
}

// ShipmentReasonMax is the longest shipment-cancellation reason, in characters.
const ShipmentReasonMax = 500

// CheckShipmentReason validates the reason of a shipment cancellation: 1 to
// ShipmentReasonMax characters of one line, trimmed.
func CheckShipmentReason(reason string) (string, error) {
	in := &Input{}
	r := in.checkText("reason", reason, ShipmentReasonMax, false)
	if r == "" && len(in.Errors) == 0 {
		in.Add("reason", "reason is required: say why the shipment is cancelled.")
	}
	return r, in.Err()
}

// CheckCancelReason checks the reason of a partner's order cancellation:
// required, one line, at most ShipmentReasonMax characters.
func CheckCancelReason(reason string) (string, error) {
	in := &Input{}
	r := in.checkText("reason", reason, ShipmentReasonMax, false)
	if r == "" && len(in.Errors) == 0 {
		in.Add("reason", "reason is required: say why the order is cancelled.")
	}
	return r, in.Err()
}

// PartnerCancellable reports whether a partner may still cancel an order
// in status: before it is submitted to the pharmacy.
func PartnerCancellable(status string) bool { return status == OrderCreated || status == OrderVerified }

// CancelByPartner cancels o at time at for the partner's reason (checked
// with CheckCancelReason) and returns medication_order:cancelled, whose
// data carries the reason. Only a created or verified order can be
// cancelled so; any other is an ORDER_NOT_CANCELLABLE error naming its
// status, and stays as it was.
func (o *MedicationOrder) CancelByPartner(reason string, at time.Time) (*Event, error) {
	if !PartnerCancellable(o.Status) {
		return nil, &Error{Code: CodeNotCancellable,
			Message: fmt.Sprintf("Only an order that is created or verified can be cancelled; this order is %s.", o.Status)}
	}
	o.Status, o.UpdatedAt = OrderCancelled, at
	d := o.EventData()
	d["reason"], d["cancelled_by"] = reason, "partner"
	return &Event{ClinicID: o.ClinicID, Name: EventOrderCancelled, Data: d, CreatedAt: at}, nil
}

// CancelShipment cancels the active shipment of a shipped order at time at:
// the shipment is marked cancelled with reason (already checked with
// CheckShipmentReason), the order goes back to filled (so it can ship
// again), and the shipment:cancelled event is returned. An order that is not
// shipped is an ORDER_NOT_SHIPPED error and stays as it was.
func (o *MedicationOrder) CancelShipment(reason string, at time.Time) (*Event, error) {
	if o.Status != OrderShipped || o.Shipment == nil {
		return nil, &Error{Code: CodeNotShipped,
			Message: fmt.Sprintf("Only the shipment of a shipped order can be cancelled; this order is %s.", o.Status)}
	}
	sh := o.Shipment
	t := at
	sh.Status, sh.CancelledAt, sh.CancelReason = ShipmentCancelled, &t, reason
	o.Shipment, o.Status, o.UpdatedAt = nil, OrderFilled, at
	d := o.EventData()
	d["shipment_id"], d["shipment_provider"], d["tracking_number"] = sh.ID, sh.Provider, sh.TrackingNumber
	d["tracking_url"], d["shipping_label"], d["reason"] = sh.TrackingURL, sh.LabelURL, reason
	return &Event{ClinicID: o.ClinicID, Name: EventShipmentCancelled, Data: d, CreatedAt: at}, nil
}

// EventData is the documented event_data of medication_order:* and
// shipment:* events.
func (o *MedicationOrder) EventData() map[string]any {
	d := map[string]any{"id": o.ID, "clinic_id": o.ClinicID, "patient_id": o.PatientID,
		"practitioner_id": o.PractitionerID, "status": o.Status}
	var rx []string
	for _, it := range o.Items {
		if it.RxNumber != "" {
			rx = append(rx, it.RxNumber)
		}
	}
	if len(rx) > 0 {
		d["rx_number"] = rx[0]
		d["rx_numbers"] = rx
	}
	if o.Shipment != nil {
		d["shipping_label"] = o.Shipment.LabelURL
		d["shipment_id"] = o.Shipment.ID
		d["shipment_provider"] = o.Shipment.Provider
		d["tracking_url"] = o.Shipment.TrackingURL
		d["tracking_number"] = o.Shipment.TrackingNumber
	}
	return d
}

// PatientUpdatedData is the event_data of patient:updated: which patient
// changed, never the PHI itself (a receiver reads the patient by id).
func PatientUpdatedData(p *Patient) map[string]any {
	return map[string]any{"patient_id": p.ID, "clinic_id": p.ClinicID}
}

// PractitionerUpdatedData is the event_data of practitioner:updated, in
// the shape of practitioner:activated's.
func PractitionerUpdatedData(p *Practitioner) map[string]any {
	d := PractitionerActivatedData(p)
	d["clinic_id"] = p.ClinicID
	return d
}

// PractitionerActivatedData is the documented event_data of practitioner:activated.
func PractitionerActivatedData(p *Practitioner) map[string]any {
	return map[string]any{
		"practitioner_id": p.ID, "practitioner_name": strings.TrimSpace(p.FirstName + " " + p.LastName),
		"practitioner_email": p.Email, "practitioner_phone": p.Phone, "practitioner_npi": p.NPI,
		"practitioner_status": p.Status,
	}
}

// Refill messages partners match on.
const (
	MsgMedicationRequestNotFound = "Medication request not found"
	MsgRefillPending             = "Refills are not possible for pending medication requests"
	MsgRefillExists              = "Refill request already exists"
	MsgRefillNotAllowed          = "Refills are not allowed for this medication request"
	MsgNoRefillsRemaining        = "No refills remaining for this medication request"
)

// RefillEligibility applies the refill rules in the order partners see them:
// the order must have shipped, the request must allow refills, no refill may
// be open, and refills must remain.
func RefillEligibility(root *MedicationRequest, orderStatus string, openRefill bool) error {
	switch {
	case orderStatus != OrderShipped && orderStatus != OrderDelivered:
		return &Error{Code: CodeRefillNotEligible, Message: MsgRefillPending}
	case root.DoNotRefill:
		return &Error{Code: CodeRefillNotEligible, Message: MsgRefillNotAllowed}
	case openRefill:
		return &Error{Code: CodeRefillExists, Message: MsgRefillExists}
	case root.RefillsRemaining <= 0:
		return &Error{Code: CodeRefillNotEligible, Message: MsgNoRefillsRemaining}
	}
	return nil
}

// RefillRequest is a partner's request to refill a shipped medication request.
type RefillRequest struct {
	ID                  string    `json:"id"`
	ClinicID            string    `json:"clinic_id"`
	MedicationRequestID string    `json:"medication_request_id"`
	RootRequestID       string    `json:"original_medication_request_id"`
	OriginalOrderID     string    `json:"original_medication_order_id"`
	NewOrderID          string    `json:"medication_order_id"`
	Status              string    `json:"status"` // the new order's status
	ShipmentGroupID     string    `json:"shipment_group_id,omitempty"`
	ShippingAddress     *Address  `json:"shipping_address,omitempty"`
	ShipmentServiceCode string    `json:"shipment_service_code,omitempty"`
	PaymentMethodID     string    `json:"payment_method_id,omitempty"`
	CreatedAt           time.Time `json:"created_at"`
	NewItemID           string    `json:"-"` // id for the copied medication request
}

var doseUnit = regexp.MustCompile(`^\s*[0-9]*\.?[0-9]+\s*([A-Za-z%µ][A-Za-z%µ/.]*)`)

// UnitFromDose derives a unit of measure from a dose ("0.25 mg" → "mg").
func UnitFromDose(dose string) string {
	if m := doseUnit.FindStringSubmatch(dose); m != nil {
		return strings.TrimSuffix(m[1], ".")
	}
	return "each"
}

// ParseOrder validates a create-medication-order body at time now.
func ParseOrder(in *Input, now time.Time) *MedicationOrder {
	o := &MedicationOrder{Status: OrderCreated}
	o.PatientID = readUUID(in, true, "patient_id")
	o.PractitionerID = readUUID(in, true, "practitioner_id")
	o.CarrierID = in.String(64, false, "carrier_id")
	o.ServiceID = in.String(128, false, "service_id")
	o.DeliverySpeed = oneOf(in, DeliverySpeeds, "delivery_speed")
	switch {
	case o.CarrierID != "" && o.ServiceID == "":
		in.Add("service_id", "service_id is required with carrier_id.")
	case o.CarrierID == "" && o.ServiceID != "":
		in.Add("carrier_id", "carrier_id is required with service_id.")
	case o.CarrierID == "" && o.DeliverySpeed == "" && !in.hasErrorFor("delivery_speed"):
		in.Add("carrier_id", "Choose shipping: carrier_id and service_id, or delivery_speed (next-day or business-day).")
	}
	o.IsRefrigerated, _ = in.Bool("is_refrigerated")
	o.ShipmentGroupID = in.String(128, false, "shipment_group_id")
	items := in.Objects("medication_requests", 20)
	if len(items) == 0 && !in.hasErrorFor("medication_requests") {
		in.Add("medication_requests", "medication_requests must list 1 to 20 medications.")
	}
	issue := now.UTC().Format(time.DateOnly)
	for i, it := range items {
		o.Items = append(o.Items, parseItem(it, issue))
		in.Nested("medication_requests["+strconv.Itoa(i)+"]", it)
	}
	return o
}

func readUUID(in *Input, required bool, name string) string {
	s := in.String(64, false, name)
	switch {
	case s == "" && required && !in.hasErrorFor(name):
		in.Add(name, "%s is required.", name)
	case s != "" && !IsUUID(s):
		in.Add(name, "%s must be a valid UUID.", name)
		return ""
	}
	return strings.ToLower(s)
}

func parseItem(in *Input, issueDate string) *MedicationRequest {
	it := &MedicationRequest{IssueDate: issueDate}
	it.Medication = requireText(in, 200, "medication")
	it.Dose = requireText(in, 100, "dose")
	it.Direction = requireText(in, 1000, "direction")
	it.Quantity = in.Number("quantity")
	if it.Quantity == "" && !in.hasErrorFor("quantity") {
		in.Add("quantity", "quantity is required and must be greater than 0.")
	}
	it.UnitOfMeasure = in.String(20, false, "unit_of_measure")
	if it.UnitOfMeasure == "" && it.Dose != "" {
		it.UnitOfMeasure = UnitFromDose(it.Dose)
	}
	it.RefillsAuthorized = in.Int(0, 11, "refills")
	it.RefillsRemaining = it.RefillsAuthorized
	it.DaysSupply = in.Int(1, 365, "days_supply")
	it.Flavor = in.String(100, false, "flavor")
	it.Notes = in.String(2000, true, "notes")
	it.DoNotRefill, _ = in.Bool("do_not_refill")
	it.DoNotFill, _ = in.Bool("do_not_fill")
	it.PatientContactRequested, _ = in.Bool("patient_contact_requested")
	it.ReasonForCompounding = in.String(1000, true, "reason_for_compounding")
	it.ReasonForCompoundingAdditionalContext = in.String(2000, true, "reason_for_compounding_additional_context")
	return it
}

func requireText(in *Input, maxLen int, name string) string {
	s := in.String(maxLen, true, name)
	if s == "" && !in.hasErrorFor(name) {
		in.Add(name, "%s is required.", name)
	}
	return s
}

// RefillOrder builds the new order of a refill: the refilled item copied
// (same prescription and Rx number) into a fresh order with the original's
// shipping, refills remaining as given. The new ids come from r
// (NewOrderID, NewItemID).
func RefillOrder(orig *MedicationOrder, item *MedicationRequest, remaining int, r *RefillRequest, now time.Time) *MedicationOrder {
	it := *item
	it.ID, it.OrderID, it.RefillsRemaining, it.IssueDate = r.NewItemID, r.NewOrderID, remaining, now.Format(time.DateOnly)
	o := &MedicationOrder{
		ID: r.NewOrderID, ClinicID: orig.ClinicID, PatientID: orig.PatientID, PractitionerID: orig.PractitionerID,
		Status: OrderCreated, CarrierID: orig.CarrierID, ServiceID: orig.ServiceID, DeliverySpeed: orig.DeliverySpeed,
		ShippingCost: orig.ShippingCost, IsRefrigerated: orig.IsRefrigerated, ShipmentGroupID: orig.ShipmentGroupID,
		RefillRequestID: r.ID, Items: []*MedicationRequest{&it}, Shipments: []*Shipment{}, CreatedAt: now, UpdatedAt: now,
	}
	if r.ShipmentGroupID != "" {
		o.ShipmentGroupID = r.ShipmentGroupID
	}
	if r.ShippingAddress != nil {
		a := *r.ShippingAddress
		o.ShippingAddress = &a
	}
	o.PaymentMethodID = r.PaymentMethodID
	return o
}

// FindService returns the carrier offering the service with id code, the
// first in catalogue order (the published catalogue's service ids are
// unique across carriers).
func FindService(carriers []Carrier, code string) (*Carrier, CarrierService, bool) {
	for i := range carriers {
		if svc, ok := carriers[i].Service(code); ok {
			return &carriers[i], svc, true
		}
	}
	return nil, CarrierService{}, false
}

// UnknownServiceCode is the validation error of a refill's
// shipment_service_code that names no service of the catalogue.
func UnknownServiceCode() error {
	return ValidationError([]FieldError{{Field: "shipment_service_code",
		Message: "shipment_service_code is not a service of any carrier; see GET /api/external/carriers/{carrierId}/services."}})
}

// ErrServiceNotAvailable is the contract's answer for a carrier service that
// does not deliver to the destination.
func ErrServiceNotAvailable() error {
	return &Error{Code: CodeServiceNotAvail, Message: "Service not available"}
}

// ShipRefill applies a refill's shipping choice to its new order o: the
// service named by code (of any carrier; "" keeps the original order's),
// priced for the destination state (the refill's shipping address, else the
// patient's) and the clinic's free shipping.
func ShipRefill(o *MedicationOrder, carriers []Carrier, code, state string, free bool) error {
	var svc CarrierService
	if code != "" {
		c, s, ok := FindService(carriers, code)
		if !ok {
			return UnknownServiceCode()
		}
		o.CarrierID, svc = c.ID, s
	} else {
		i := slices.IndexFunc(carriers, func(c Carrier) bool { return c.ID == o.CarrierID })
		if i < 0 {
			return ErrServiceNotAvailable()
		}
		s, ok := carriers[i].Service(o.ServiceID)
		if !ok {
			return ErrServiceNotAvailable()
		}
		svc = s
	}
	q, ok := svc.Quote(state, free)
	if !ok {
		return ErrServiceNotAvailable()
	}
	o.ServiceID, o.DeliverySpeed, o.ShippingCost = svc.ID, svc.Speed, q.TotalCost
	return nil
}

// ParseShippingAddress reads a refill's shipping_address object (the
// published shape {line1, city, state, zip, country}, or any spelling the
// patient address accepts): line 1, city, a US state and a ZIP code are
// required; country, when sent, must be US.
func ParseShippingAddress(a *Input) Address {
	addr := ParseAddressObject(a)
	for _, req := range []struct{ name, value string }{{"line1", addr.Line1}, {"city", addr.City}, {"state", addr.State}, {"zip", addr.Zip}} {
		if req.value == "" && !a.hasErrorFor(req.name) {
			a.Add(req.name, "%s is required.", req.name)
		}
	}
	if c := a.String(60, false, "country", "country_code"); c != "" && !strings.EqualFold(c, "US") && !strings.EqualFold(c, "USA") {
		a.Add("country", "country must be US: NovaMed ships within the United States.")
	}
	return addr
}

// CheckPaymentMethodID validates a payment method id: 1 to 128 printable
// ASCII characters.
func CheckPaymentMethodID(in *Input) string {
	s := in.String(128, false, "payment_method_id")
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			in.Add("payment_method_id", "payment_method_id must be printable ASCII characters.")
			return ""
		}
	}
	return s
}
