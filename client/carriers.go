package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// Carrier is a shipping carrier of NovaMed's catalogue.
type Carrier struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// ShippingQuote is a carrier service priced for one patient.
type ShippingQuote struct {
	ID           string  `json:"id"` // the service_id of an order
	Name         string  `json:"name"`
	TotalCost    float64 `json:"totalCost"`    // what the order costs to ship (0 with free shipping), US dollars
	OriginalCost float64 `json:"originalCost"` // the price before free shipping, US dollars
}

// CarrierServices are the services of one carrier that ship to a patient.
type CarrierServices struct {
	Services []ShippingQuote
	// IsFreeShipment is true when the patient's clinic ships for free.
	IsFreeShipment bool
	// FreeShipmentType says why ("clinic_specific"), or "".
	FreeShipmentType string
	// PatientState is the full name of the patient's state ("Texas").
	PatientState string
}

// CarriersService is /api/external/carriers.
type CarriersService struct{ c *Client }

// List returns the carrier catalogue.
func (s *CarriersService) List(ctx context.Context, opts ...CallOption) ([]Carrier, error) {
	var data struct {
		Carriers []Carrier `json:"carriers"`
	}
	if err := s.c.get(ctx, "/api/external/carriers", nil, &data, opts); err != nil {
		return nil, err
	}
	return data.Carriers, nil
}

// Services quotes a carrier's services for a patient's address. A carrier
// with no service to the patient's state is a 400 SERVICE_NOT_AVAILABLE; an
// unknown carrier or patient is a 404.
func (s *CarriersService) Services(ctx context.Context, carrierID, patientID string, opts ...CallOption) (*CarrierServices, error) {
	path := "/api/external/carriers/" + pathEscape(carrierID) + "/services"
	body, err := s.c.do(ctx, call{method: http.MethodGet, path: path, query: url.Values{"patientId": {patientID}}}, opts)
	if err != nil {
		return nil, err
	}
	// This answer is not the usual envelope: the quotes are data and the
	// free-shipping facts sit beside it.
	var raw struct {
		Data             []ShippingQuote `json:"data"`
		IsFreeShipment   bool            `json:"isFreeShipment"`
		FreeShipmentType *string         `json:"freeShipmentType"`
		PatientState     string          `json:"patientState"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("novamed: GET %s: decoding the answer: %w", path, err)
	}
	out := &CarrierServices{Services: raw.Data, IsFreeShipment: raw.IsFreeShipment, PatientState: raw.PatientState}
	if raw.FreeShipmentType != nil {
		out.FreeShipmentType = *raw.FreeShipmentType
	}
	return out, nil
}
