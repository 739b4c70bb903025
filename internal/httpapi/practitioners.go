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

func (s *Server) createPractitioner(w http.ResponseWriter, r *http.Request) error {
	st := stateOf(r)
	in, err := readInput(r)
	if err != nil {
		return err
	}
	clinic, err := clinicOf(in, st.key)
	if err != nil {
		return err
	}
	st.clinicID = clinic
	p := novamed.ParsePractitioner(in, s.env == novamed.Production)
	if err := in.Err(); err != nil {
		return err
	}
	p.ID, p.ClinicID, p.CreatedAt = newID(), clinic, s.now().UTC().Truncate(time.Microsecond)
	err = s.create(w, r, []string{p.ID}, practitionerJSON{p.ID, p}, "Practitioner created successfully",
		func(eff novamed.Effects) error { return s.store.CreatePractitioner(r.Context(), p, eff) })
	return duplicate(err, &novamed.Error{Code: novamed.CodeDuplicate, Message: "A practitioner with this NPI already exists in this clinic.",
		Fields: []novamed.FieldError{{Field: "npi", Message: "A practitioner with this NPI already exists in this clinic."}}})
}

func (s *Server) getPractitioner(w http.ResponseWriter, r *http.Request) error {
	return shown(s, w, r, "Practitioner", s.store.GetPractitioner,
		func(p *novamed.Practitioner) (practitionerJSON, string) { return practitionerJSON{p.ID, p}, p.ClinicID })
}

func (s *Server) listPractitioners(w http.ResponseWriter, r *http.Request) error {
	return listed(s, w, r, func(f novamed.ListFilter) ([]*novamed.Practitioner, string, error) {
		return s.store.ListPractitioners(r.Context(), f)
	}, func(p *novamed.Practitioner) (practitionerJSON, string) { return practitionerJSON{p.ID, p}, p.ID })
}
