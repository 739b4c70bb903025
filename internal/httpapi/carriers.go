package httpapi

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

type carrierJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (s *Server) listCarriers(_ http.ResponseWriter, r *http.Request, _ *reqState) (reply, error) {
	_, body, err := s.catalogue(r.Context())
	if err != nil {
		return reply{}, err
	}
	return okBody(facts{}, body), nil
}

// carriersBody is the encoded GET /carriers answer for a catalogue; it is
// cached with the catalogue, since every read would encode the same bytes.
func carriersBody(cs []novamed.Carrier) ([]byte, error) {
	out := make([]carrierJSON, len(cs))
	for i, c := range cs {
		out[i] = carrierJSON{c.ID, c.Name}
	}
	return marshalSuccess(map[string]any{"carriers": out}, "")
}

// servicesBody is the documented quote answer: the services in data, and the
// free-shipping facts beside it.
type servicesBody struct {
	Success          bool                    `json:"success"`
	Data             []novamed.ShippingQuote `json:"data"`
	IsFreeShipment   bool                    `json:"isFreeShipment"`
	FreeShipmentType *string                 `json:"freeShipmentType"`
	PatientState     string                  `json:"patientState"`
}

func (s *Server) carrierServices(_ http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	patientID := r.URL.Query().Get("patientId")
	if patientID == "" {
		patientID = r.URL.Query().Get("patient_id")
	}
	if patientID == "" {
		return reply{}, novamed.ValidationError([]novamed.FieldError{{Field: "patientId", Message: "patientId is required."}})
	}
	if !novamed.IsUUID(patientID) {
		return reply{}, novamed.NotFound("Patient")
	}
	patient, err := s.store.GetPatient(r.Context(), strings.ToLower(patientID), st.key.Clinics)
	if err != nil {
		return reply{}, err
	}
	f := touched(patient.ClinicID, patient.ID)
	cs, err := s.carriers(r.Context())
	if err != nil {
		return f.fail(err)
	}
	var carrier *novamed.Carrier
	for i := range cs {
		if cs[i].ID == r.PathValue("carrierId") {
			carrier = &cs[i]
		}
	}
	if carrier == nil {
		return f.fail(novamed.NotFound("Carrier"))
	}
	clinic, err := s.store.GetClinic(r.Context(), patient.ClinicID)
	if err != nil {
		return f.fail(err)
	}
	body := servicesBody{Success: true, Data: []novamed.ShippingQuote{}, IsFreeShipment: clinic.FreeShipping}
	if clinic.FreeShipping {
		t := "clinic_specific"
		body.FreeShipmentType = &t
	}
	body.PatientState, _ = novamed.StateName(patient.Address.State)
	for _, svc := range carrier.Services {
		if q, ok := svc.Quote(patient.Address.State, clinic.FreeShipping); ok {
			body.Data = append(body.Data, q)
		}
	}
	if len(body.Data) == 0 {
		return f.fail(novamed.ErrServiceNotAvailable())
	}
	b, err := marshalBody(body)
	if err != nil {
		return f.fail(err)
	}
	return okBody(f, b), nil
}

// carrierCache keeps the catalogue in memory for a short time: it is read on
// every quote and order but changes only by operator import, which reaches
// every server within carrierTTL.
type carrierCache struct {
	mu      sync.Mutex
	list    []novamed.Carrier
	body    []byte // list's GET /carriers answer; not modified once set
	fetched time.Time
}

const carrierTTL = 2 * time.Second

// carriers returns the (cached) catalogue; callers must not modify it.
func (s *Server) carriers(ctx context.Context) ([]novamed.Carrier, error) {
	list, _, err := s.catalogue(ctx)
	return list, err
}

// catalogue returns the (cached) catalogue and its encoded GET /carriers
// answer, read together under one lock.
func (s *Server) catalogue(ctx context.Context) ([]novamed.Carrier, []byte, error) {
	c := &s.carrierCache
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.list != nil && s.now().Sub(c.fetched) < carrierTTL {
		return c.list, c.body, nil
	}
	list, err := s.store.ListCarriers(ctx)
	if err != nil {
		return nil, nil, err
	}
	body, err := carriersBody(list)
	if err != nil {
		return nil, nil, err
	}
	c.list, c.body, c.fetched = list, body, s.now()
	return list, body, nil
}
