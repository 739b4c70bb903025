package httpapi

import (
	"time"

	"net/http"

	"github.com/novamed/partner-api/internal/novamed"
)

type practitionerJSON struct {
	PractitionerID string `json:"practitioner_id"`
	*novamed.Practitioner
}

func (s *Server) createPractitioner(w http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	in, err := readInput(r)
	if err != nil {
		return reply{}, err
	}
	clinic, err := clinicOf(in, st.key)
	if err != nil {
		return reply{}, err
	}
	p := novamed.ParsePractitioner(in, s.env == novamed.Production)
	if err := in.Err(); err != nil {
		return touched(clinic).fail(err)
	}
	p.ID, p.ClinicID, p.CreatedAt = newID(), clinic, s.now().UTC().Truncate(time.Microsecond)
	rep, err := s.create(w, r, st, touched(clinic, p.ID), practitionerJSON{p.ID, p}, "Practitioner created successfully",
		func(eff novamed.Effects) error { return s.store.CreatePractitioner(r.Context(), p, eff) })
	return rep, duplicate(err, &novamed.Error{Code: novamed.CodeDuplicate, Message: "A practitioner with this NPI already exists in this clinic.",
		Fields: []novamed.FieldError{{Field: "npi", Message: "A practitioner with this NPI already exists in this clinic."}}})
}

func (s *Server) getPractitioner(_ http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	return shown(s, st, r, "Practitioner", s.store.GetPractitioner,
		func(p *novamed.Practitioner) (practitionerJSON, string) { return practitionerJSON{p.ID, p}, p.ClinicID })
}

func (s *Server) listPractitioners(_ http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	return listed(s, st, r, func(f novamed.ListFilter) ([]*novamed.Practitioner, string, error) {
		return s.store.ListPractitioners(r.Context(), f)
	}, func(p *novamed.Practitioner) (practitionerJSON, string) { return practitionerJSON{p.ID, p}, p.ID })
}
