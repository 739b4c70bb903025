package client

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"net/url"
	"time"
)

// Medication order statuses, in lifecycle order, and cancelled.
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

// Delivery speeds, for ordering without naming a carrier service.
const (
	SpeedNextDay     = "next-day"
	SpeedBusinessDay = "business-day"
)

// MedicationOrder is a prescription order for one patient.
type MedicationOrder struct {
	ID string `json:"id"`
	// MedicationRequestID is the id of the first medication request, the
	// one a refill names.
	MedicationRequestID string  `json:"medication_request_id"`
	ClinicID            string  `json:"clinic_id"`
	PatientID           string  `json:"patient_id"`
	PractitionerID      string  `json:"practitioner_id"`
	Status              string  `json:"status"`
	CarrierID           string  `json:"carrier_id"`
	ServiceID           string  `json:"service_id"`
	DeliverySpeed       string  `json:"delivery_speed,omitempty"`
	ShippingCost        float64 `json:"shipping_cost"` // US dollars; 0 with free shipping
	IsRefrigerated      bool    `json:"is_refrigerated"`
	ShipmentGroupID     string  `json:"shipment_group_id,omitempty"`
	RefillRequestID     string  `json:"refill_request_id,omitempty"`
	// ShippingAddress is where the order ships when a refill named an
	// address; nil means the patient's address.
	ShippingAddress *Address `json:"shipping_address,omitempty"`
	// PaymentMethodID is the payment method id a refill named.
	PaymentMethodID    string               `json:"payment_method_id,omitempty"`
	MedicationRequests []*MedicationRequest `json:"medication_requests"`
	// Shipment is the active shipment: nil until the order ships, and
	// again after its shipment was cancelled (the order is then filled).
	Shipment *Shipment `json:"shipment"`
	// Shipments lists every shipment, oldest first, cancelled ones
	// included; the active one is also Shipment.
	Shipments []*Shipment `json:"shipments"`
	CreatedAt time.Time   `json:"created_at"`
	UpdatedAt time.Time   `json:"updated_at"`
}

// Shipment statuses: an order has at most one active shipment.
const (
	ShipmentActive    = "active"
	ShipmentCancelled = "cancelled"
)

// MedicationRequest is one prescribed item of an order.
type MedicationRequest struct {
	ID                          string `json:"id"`
	MedicationOrderID           string `json:"medication_order_id"`
	OriginalMedicationRequestID string `json:"original_medication_request_id"`
	Medication                  string `json:"medication"`
	Dose                        string `json:"dose"`
	UnitOfMeasure               string `json:"unit_of_measure"`
	Quantity                    string `json:"quantity"`
	// Sig is the directions for use (Direction in the request).
	Sig                                   string `json:"sig"`
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
	RxNumber                              string `json:"rx_number,omitempty"` // assigned at verification
	IssueDate                             string `json:"issue_date"`
}

// Shipment is what the pharmacy records when an order ships. A cancelled
// shipment (lost, returned, carrier exception) stays on the order with
// CancelledAt and CancelReason; the order then ships again with a new one.
type Shipment struct {
	ID                string     `json:"shipment_id"`
	Status            string     `json:"status"` // ShipmentActive or ShipmentCancelled
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

// CreateMedicationOrderRequest orders medications for a patient. Choose
// shipping with CarrierID and ServiceID (see CarriersService), or with
// DeliverySpeed for the cheapest service of that speed.
type CreateMedicationOrderRequest struct {
	ClinicID           string                    `json:"clinic_id"`
	PatientID          string                    `json:"patient_id"`
	PractitionerID     string                    `json:"practitioner_id"`
	CarrierID          string                    `json:"carrier_id,omitempty"`
	ServiceID          string                    `json:"service_id,omitempty"`
	DeliverySpeed      string                    `json:"delivery_speed,omitempty"` // SpeedNextDay or SpeedBusinessDay
	IsRefrigerated     bool                      `json:"is_refrigerated,omitempty"`
	ShipmentGroupID    string                    `json:"shipment_group_id,omitempty"`
	MedicationRequests []MedicationRequestParams `json:"medication_requests"` // 1 to 20
}

// MedicationRequestParams is one medication of a new order. Medication,
// Dose, Quantity and Direction are required.
type MedicationRequestParams struct {
	Medication    string `json:"medication"`
	Dose          string `json:"dose"`                      // e.g. "0.25 mg"
	UnitOfMeasure string `json:"unit_of_measure,omitempty"` // derived from Dose when empty
	Quantity      string `json:"quantity"`                  // decimal text greater than 0, e.g. "4"
	Direction     string `json:"direction"`                 // the sig, answered as MedicationRequest.Sig
	Refills       int    `json:"refills,omitempty"`         // 0 to 11
	DaysSupply    int    `json:"days_supply,omitempty"`
	Flavor        string `json:"flavor,omitempty"`
	Notes         string `json:"notes,omitempty"`
	DoNotRefill   bool   `json:"do_not_refill,omitempty"`
	DoNotFill     bool   `json:"do_not_fill,omitempty"`
	// PatientContactRequested asks the pharmacy to contact the patient.
	PatientContactRequested               bool   `json:"patient_contact_requested,omitempty"`
	ReasonForCompounding                  string `json:"reason_for_compounding,omitempty"`
	ReasonForCompoundingAdditionalContext string `json:"reason_for_compounding_additional_context,omitempty"`
}

// MedicationOrderListParams selects orders.
type MedicationOrderListParams struct {
	ListParams
	// PatientID keeps one patient's orders.
	PatientID string
	// Status keeps orders in one status (OrderCreated, …).
	Status string
}

// MedicationOrdersService is /api/external/medication-order.
type MedicationOrdersService struct{ c *Client }

const orderPath = "/api/external/medication-order"

// Create places an order. The patient and practitioner must belong to the
// clinic; a service that does not ship to the patient's state is a 400
// SERVICE_NOT_AVAILABLE.
func (s *MedicationOrdersService) Create(ctx context.Context, req *CreateMedicationOrderRequest, opts ...CallOption) (*MedicationOrder, error) {
	var o MedicationOrder
	if err := s.c.call(ctx, call{method: http.MethodPost, path: orderPath, body: req}, &o, opts); err != nil {
		return nil, err
	}
	return &o, nil
}

// Get returns one order; an unknown id is a 404 (IsNotFound).
func (s *MedicationOrdersService) Get(ctx context.Context, id string, opts ...CallOption) (*MedicationOrder, error) {
	var o MedicationOrder
	if err := s.c.get(ctx, orderPath+"/"+pathEscape(id), nil, &o, opts); err != nil {
		return nil, err
	}
	return &o, nil
}

// SandboxCancelShipment cancels the active shipment of a shipped order as
// NovaMed's pharmacy would (lost, returned, carrier exception), so that an
// integration can be tested against shipment:cancelled: the order goes back
// to filled and is returned with every shipment. Development only: in
// production the route does not exist (404, IsNotFound). An order that is
// not shipped is a 400 ORDER_NOT_SHIPPED.
func (s *MedicationOrdersService) SandboxCancelShipment(ctx context.Context, id, reason string, opts ...CallOption) (*MedicationOrder, error) {
	var o MedicationOrder
	body := map[string]string{"reason": reason}
	if err := s.c.call(ctx, call{method: http.MethodPost, path: orderPath + "/" + pathEscape(id) + "/sandbox/cancel-shipment", body: body}, &o, opts); err != nil {
		return nil, err
	}
	return &o, nil
}

func (p MedicationOrderListParams) values() url.Values {
	q := p.ListParams.values()
	if p.PatientID != "" {
		q.Set("patient_id", p.PatientID)
	}
	if p.Status != "" {
		q.Set("status", p.Status)
	}
	return q
}

// List ranges over orders, newest first, fetching pages as needed.
func (s *MedicationOrdersService) List(ctx context.Context, p MedicationOrderListParams, opts ...CallOption) iter.Seq2[*MedicationOrder, error] {
	return paginate[MedicationOrder](ctx, s.c, orderPath, p.values(), opts)
}

// ListPage fetches one page of orders.
func (s *MedicationOrdersService) ListPage(ctx context.Context, p MedicationOrderListParams, opts ...CallOption) (*Page[MedicationOrder], error) {
	return listPage[MedicationOrder](ctx, s.c, orderPath, p.values(), opts)
}

// Refill is a request to refill a shipped medication request; it creates a
// new order (MedicationOrderID) whose status is Status.
type Refill struct {
	ID                          string    `json:"id"`
	ClinicID                    string    `json:"clinic_id"`
	MedicationRequestID         string    `json:"medication_request_id"`
	OriginalMedicationRequestID string    `json:"original_medication_request_id"`
	OriginalMedicationOrderID   string    `json:"original_medication_order_id"`
	MedicationOrderID           string    `json:"medication_order_id"`
	Status                      string    `json:"status"`
	ShipmentGroupID             string    `json:"shipment_group_id,omitempty"`
	ShippingAddress             *Address  `json:"shipping_address,omitempty"`
	ShipmentServiceCode         string    `json:"shipment_service_code,omitempty"`
	PaymentMethodID             string    `json:"payment_method_id,omitempty"`
	CreatedAt                   time.Time `json:"created_at"`
}

// CreateRefillRequest asks for a refill of a medication request
// (MedicationOrder.MedicationRequestID) of a shipped or delivered order.
// The refill's new order ships like the original unless it names
// ShipmentServiceCode (a service id of any carrier, e.g. "usps_priority":
// the order then ships with that carrier) or ShippingAddress (line 1, city,
// state and ZIP required; the order is priced for it); PaymentMethodID (1 to
// 128 printable ASCII characters) is kept on the new order.
type CreateRefillRequest struct {
	MedicationRequestID string   `json:"medication_request_id"`
	ClinicID            string   `json:"clinic_id,omitempty"`
	ShipmentGroupID     string   `json:"shipment_group_id,omitempty"`
	ShippingAddress     *Address `json:"shipping_address,omitempty"`
	ShipmentServiceCode string   `json:"shipment_service_code,omitempty"`
	PaymentMethodID     string   `json:"payment_method_id,omitempty"`
}

// MarshalJSON sends the address in the spelling the server reads.
func (r CreateRefillRequest) MarshalJSON() ([]byte, error) {
	type plain CreateRefillRequest
	return json.Marshal(struct {
		plain
		ShippingAddress *wireAddress `json:"shipping_address,omitempty"`
	}{plain(r), toWire(r.ShippingAddress)})
}

// RefillCreated is the answer to a refill request: its id and the new order's.
type RefillCreated struct {
	RefillRequestID   string `json:"refill_request_id"`
	MedicationOrderID string `json:"medication_order_id"`
}

// RefillsService is /api/external/refill-request.
type RefillsService struct{ c *Client }

const refillPath = "/api/external/refill-request"

// Create requests a refill. Refusals are 400s: MEDICATION_REQUEST_NOT_FOUND,
// REFILL_NOT_ELIGIBLE (not shipped yet, do-not-refill, none remaining),
// REFILL_ALREADY_EXISTS, VALIDATION_ERROR (e.g. an unknown
// shipment_service_code) and SERVICE_NOT_AVAILABLE.
func (s *RefillsService) Create(ctx context.Context, req *CreateRefillRequest, opts ...CallOption) (*RefillCreated, error) {
	var r RefillCreated
	if err := s.c.call(ctx, call{method: http.MethodPost, path: refillPath, body: req}, &r, opts); err != nil {
		return nil, err
	}
	return &r, nil
}

// Get returns one refill request; an unknown id is a 404 (IsNotFound).
func (s *RefillsService) Get(ctx context.Context, id string, opts ...CallOption) (*Refill, error) {
	var r Refill
	if err := s.c.get(ctx, refillPath+"/"+pathEscape(id), nil, &r, opts); err != nil {
		return nil, err
	}
	return &r, nil
}

// List ranges over refill requests, newest first, fetching pages as needed.
func (s *RefillsService) List(ctx context.Context, p ListParams, opts ...CallOption) iter.Seq2[*Refill, error] {
	return paginate[Refill](ctx, s.c, refillPath, p.values(), opts)
}

// ListPage fetches one page of refill requests.
func (s *RefillsService) ListPage(ctx context.Context, p ListParams, opts ...CallOption) (*Page[Refill], error) {
	return listPage[Refill](ctx, s.c, refillPath, p.values(), opts)
}
