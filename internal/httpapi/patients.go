package httpapi

import (
	"time"

	"net/http"

	"github.com/novamed/partner-api/internal/novamed"
)

type patientJSON struct {
	PatientID string `json:"patient_id"`
	*novamed.Patient
}

func (s *Server) createPatient(w http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	in, err := readInput(r)
	if err != nil {
		return reply{}, err
	}
	clinic, err := clinicOf(in, st.key)
	if err != nil {
		return reply{}, err
	}
	p := novamed.ParsePatient(in, s.env == novamed.Production, s.now())
	if err := in.Err(); err != nil {
		return touched(clinic).fail(err)
	}
	p.ID, p.ClinicID, p.CreatedAt = newID(), clinic, s.now().UTC().Truncate(time.Microsecond)
	rep, err := s.create(w, r, st, touched(clinic, p.ID), patientJSON{p.ID, p}, "Patient created successfully",
		func(eff novamed.Effects) error { return s.store.CreatePatient(r.Context(), p, eff) })
	return rep, duplicate(err, &novamed.Error{Code: novamed.CodeDuplicate, Message: "A patient with the same name and date of birth already exists in this clinic."})
}

func (s *Server) getPatient(_ http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	return shown(s, st, r, "Patient", s.store.GetPatient,
		func(p *novamed.Patient) (patientJSON, string) { return patientJSON{p.ID, p}, p.ClinicID })
}

func (s *Server) listPatients(_ http.ResponseWriter, r *http.Request, st *reqState) (reply, error) {
	return listed(s, st, r, func(f novamed.ListFilter) ([]*novamed.Patient, string, error) {
		return s.store.ListPatients(r.Context(), f)
	}, func(p *novamed.Patient) (patientJSON, string) { return patientJSON{p.ID, p}, p.ID })
}
