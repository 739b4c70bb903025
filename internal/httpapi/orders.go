package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

type orderJSON struct {
	MedicationOrderID   string `json:"medication_order_id"`
	MedicationRequestID string `json:"medication_request_id"`
	*novamed.MedicationOrder
	Shipments []*novamed.Shipment `json:"shipments"` // never null: [] before the first shipment
}

func toOrderJSON(o *novamed.MedicationOrder) orderJSON {
	j := orderJSON{MedicationOrderID: o.ID, MedicationOrder: o, Shipments: o.Shipments}
	if len(o.Items) > 0 {
		j.MedicationRequestID = o.Items[0].ID
	}
	if j.Shipments == nil {
		j.Shipments = []*novamed.Shipment{}
	}
	return j
}

// chooseService resolves the order's shipping choice for the patient's state
// and prices it: carrier_id+service_id as given, or the cheapest service of
// the requested delivery speed.
func (s *Server) chooseService(r *http.Request, o *novamed.MedicationOrder, state string, free bool) error {
	carriers, err := s.carriers(r.Context())
	if err != nil {
		return err
	}
	if o.CarrierID != "" {
		i := slices.IndexFunc(carriers, func(c novamed.Carrier) bool { return c.ID == o.CarrierID })
		if i < 0 {
			return novamed.ValidationError([]novamed.FieldError{{Field: "carrier_id", Message: "carrier_id does not name a carrier; see GET /api/external/carriers."}})
		}
		svc, ok := carriers[i].Service(o.ServiceID)
		if !ok {
			return novamed.ValidationError([]novamed.FieldError{{Field: "service_id", Message: "service_id is not a service of this carrier."}})
		}
		q, ok := svc.Quote(state, free)
		if !ok {
			return novamed.ErrServiceNotAvailable()
		}
		o.ShippingCost, o.DeliverySpeed = q.TotalCost, svc.Speed
		return nil
	}
	best := -1.0
	for _, c := range carriers {
		for _, svc := range c.Services {
			if svc.Speed != o.DeliverySpeed {
				continue
			}
			if q, ok := svc.Quote(state, free); ok && (best < 0 || q.OriginalCost < best) {
				best, o.CarrierID, o.ServiceID, o.ShippingCost = q.OriginalCost, c.ID, svc.ID, q.TotalCost
			}
		}
	}
	if best < 0 {
		return novamed.ErrServiceNotAvailable()
	}
	return nil
}

func (s *Server) createOrder(w http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	in, err := readInput(r)
	if err != nil {
		return reply{}, err
	}
	clinic, err := clinicOf(in, st.key)
	if err != nil {
		return reply{}, err
	}
	f := touched(clinic)
	now := s.now().UTC().Truncate(time.Microsecond)
	o := novamed.ParseOrder(in, now)
	if err := in.Err(); err != nil {
		return f.fail(err)
	}
	patient, err := s.store.GetPatient(r.Context(), o.PatientID, []string{clinic})
	if err != nil {
		return f.fail(err)
	}
	prescriber, err := s.store.GetPractitioner(r.Context(), o.PractitionerID, []string{clinic})
	if err != nil {
		return f.fail(err)
	}
	if err := novamed.CheckPrescriber(prescriber, s.env); err != nil {
		return f.fail(err)
	}
	formulary, _, err := s.formulary(r, clinic)
	if err != nil {
		return f.fail(err)
	}
	if err := novamed.CheckFormulary(o, formulary); err != nil {
		return f.fail(err)
	}
	c, err := s.store.GetClinic(r.Context(), clinic)
	if err != nil {
		return f.fail(err)
	}
	if err := s.chooseService(r, o, patient.Address.State, c.FreeShipping); err != nil {
		return f.fail(err)
	}
	o.ID, o.ClinicID, o.CreatedAt, o.UpdatedAt = newID(), clinic, now, now
	// The order keeps the address it ships to: a later change of the
	// patient's address (PATCH) moves the next order, not this one.
	if !patient.Address.IsZero() {
		a := patient.Address
		o.ShippingAddress = &a
	}
	ids := []string{o.ID}
	for _, it := range o.Items {
		it.ID, it.OrderID = newID(), o.ID
		it.RootID = it.ID
		ids = append(ids, it.ID)
	}
	return s.create(w, r, st, touched(clinic, ids...), toOrderJSON(o), "Medication request created successfully",
		func(eff novamed.Effects) error { return s.store.CreateMedicationOrder(r.Context(), o, eff) })
}

func (s *Server) getOrder(_ http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	return shown(s, st, r, "Medication order", s.store.GetMedicationOrder,
		func(o *novamed.MedicationOrder) (orderJSON, string) { return toOrderJSON(o), o.ClinicID })
}

func (s *Server) listOrders(_ http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	q := r.URL.Query()
	return listed(s, st, r, func(lf novamed.ListFilter) ([]*novamed.MedicationOrder, string, error) {
		f := novamed.OrderFilter{ListFilter: lf}
		if v := q.Get("patient_id"); v != "" {
			if !novamed.IsUUID(v) {
				return nil, "", novamed.ValidationError([]novamed.FieldError{{Field: "patient_id", Message: "patient_id must be a valid UUID."}})
			}
			f.PatientID = strings.ToLower(v)
		}
		if v := q.Get("status"); v != "" {
			if !slices.Contains(novamed.OrderLifecycle, v) && v != novamed.OrderCancelled {
				return nil, "", novamed.ValidationError([]novamed.FieldError{{Field: "status", Message: "status must be one of: " +
					strings.Join(append(slices.Clone(novamed.OrderLifecycle), novamed.OrderCancelled), ", ") + "."}})
			}
			f.Status = v
		}
		return s.store.ListMedicationOrders(r.Context(), f)
	}, func(o *novamed.MedicationOrder) (orderJSON, string) { return toOrderJSON(o), o.ID })
}

type refillJSON struct {
	RefillRequestID string `json:"refill_request_id"`
	*novamed.RefillRequest
}

func (s *Server) createRefill(w http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	in, err := readInput(r)
	if err != nil {
		return reply{}, err
	}
	var f facts // the clinic, when the body names one; else the store adds the medication request's
	notFound := &novamed.Error{Code: novamed.CodeMedRequestUnknown, Message: novamed.MsgMedicationRequestNotFound}
	req := &novamed.RefillRequest{ID: newID(), NewOrderID: newID(), NewItemID: newID()}
	req.MedicationRequestID = strings.ToLower(in.String(64, false, "medication_request_id"))
	if in.Has("clinic_id", "assigned_clinic") {
		clinic, err := clinicOf(in, st.key)
		if err != nil {
			return reply{}, err
		}
		req.ClinicID, f = clinic, touched(clinic)
	}
	req.ShipmentGroupID = in.String(128, false, "shipment_group_id")
	req.ShipmentServiceCode = in.String(128, false, "shipment_service_code")
	req.PaymentMethodID = novamed.CheckPaymentMethodID(in)
	if a, ok := in.Object("shipping_address"); ok {
		addr := novamed.ParseShippingAddress(a)
		in.Nested("shipping_address", a)
		req.ShippingAddress = &addr
	}
	if req.MedicationRequestID == "" && !in.Has("medication_request_id") {
		in.Add("medication_request_id", "medication_request_id is required.")
	}
	if err := in.Err(); err != nil {
		return f.fail(err)
	}
	if req.ShipmentServiceCode != "" {
		// Checked here too, so an unknown code is a validation error before
		// the medication request is looked at; the store checks it again
		// against the catalogue of its transaction.
		carriers, err := s.carriers(r.Context())
		if err != nil {
			return f.fail(err)
		}
		if _, _, ok := novamed.FindService(carriers, req.ShipmentServiceCode); !ok {
			return f.fail(novamed.UnknownServiceCode())
		}
	}
	if !novamed.IsUUID(req.MedicationRequestID) {
		return f.fail(notFound)
	}
	body := map[string]string{"refill_request_id": req.ID, "medication_order_id": req.NewOrderID}
	return s.create(w, r, st, touched(req.ClinicID, req.ID, req.NewOrderID), body, "Refill request was created successfully.",
		func(eff novamed.Effects) error {
			_, err := s.store.CreateRefill(r.Context(), req, st.key.Clinics, eff)
			return err
		})
}

func (s *Server) getRefill(_ http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	return shown(s, st, r, "Refill request", s.store.GetRefill,
		func(rf *novamed.RefillRequest) (refillJSON, string) { return refillJSON{rf.ID, rf}, rf.ClinicID })
}

func (s *Server) listRefills(_ http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	return listed(s, st, r, func(f novamed.ListFilter) ([]*novamed.RefillRequest, string, error) {
		return s.store.ListRefills(r.Context(), f)
	}, func(rf *novamed.RefillRequest) (refillJSON, string) { return refillJSON{rf.ID, rf}, rf.ID })
}

// cancelShipment is the development sandbox's stand-in for the pharmacy
// cancelling a shipment (lost, returned, carrier exception), so partners can
// see shipment:cancelled. It is routed in development only.
func (s *Server) cancelShipment(_ http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	id, err := pathID(r, "Medication order")
	if err != nil {
		return reply{}, err
	}
	in, err := readInput(r)
	if err != nil {
		return reply{}, err
	}
	reason := in.String(novamed.ShipmentReasonMax, false, "reason")
	if err := in.Err(); err != nil {
		return reply{}, err
	}
	if reason, err = novamed.CheckShipmentReason(reason); err != nil {
		return reply{}, err
	}
	// The order must be one of the key's clinics; an order never changes clinic.
	o, err := s.store.GetMedicationOrder(r.Context(), id, st.key.Clinics)
	if err != nil {
		return reply{}, err
	}
	// The audit record names the order and (added by the store) the
	// cancelled shipment; the reason is PHI-adjacent free text and stays out.
	f := touched(o.ClinicID, id)
	rec := s.auditRecord(r, st, f, http.StatusOK)
	o, _, err = s.store.CancelShipment(r.Context(), id, reason, novamed.Effects{Audit: rec})
	if err != nil {
		return f.fail(err)
	}
	rep, err := s.ok(touched(rec.ClinicID, rec.ResourceIDs...), toOrderJSON(o), "Shipment cancelled")
	rep.recorded = err == nil
	return rep, err
}
