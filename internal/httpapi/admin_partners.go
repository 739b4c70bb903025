package httpapi

import (
	"strings"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
)

// The admin routes of partners, their BAAs and clinics (issue 22). Each
// action runs through internal/onboarding, which audits it in the
// transaction that makes it; the stack audits refusals.

func (s *Server) onboardingDeps() onboarding.Deps { return onboarding.Deps{Env: s.env, Now: s.now} }

// AdminPartnerRequest is the body of POST /api/admin/partners.
type AdminPartnerRequest struct {
	Name     string   `json:"name"`
	Contacts []string `json:"contacts"`
}

func (s *Server) adminPartnersList(c *adminCall) (any, facts, bool, error) {
	list, err := s.admin.ListPartners(c.r.Context())
	if err != nil {
		return nil, facts{}, false, err
	}
	now := s.now()
	out := make([]onboarding.PartnerView, len(list))
	ids := make([]string, len(list))
	for i, p := range list {
		out[i], ids[i] = onboarding.ViewPartner(p, s.env, now), p.ID
	}
	return map[string]any{"partners": out}, touched("", ids...), false, nil
}

func (s *Server) adminPartnersCreate(c *adminCall) (any, facts, bool, error) {
	var in AdminPartnerRequest
	if err := decodeAdmin(c.r, &in); err != nil {
		return nil, facts{}, false, err
	}
	p, err := onboarding.CreatePartner(c.r.Context(), s.admin, s.onboardingDeps(), c.actor(),
		onboarding.CreatePartnerInput{Name: in.Name, Contacts: in.Contacts})
	if err != nil {
		return nil, facts{}, false, err
	}
	return onboarding.ViewPartner(p, s.env, s.now()), touched("", p.ID), true, nil
}

func (s *Server) adminPartnerShow(c *adminCall) (any, facts, bool, error) {
	id := strings.ToLower(c.r.PathValue("id"))
	if !novamed.IsUUID(id) {
		return nil, touched("", id), false, novamed.NotFound("Partner")
	}
	ctx := c.r.Context()
	p, err := s.admin.GetPartner(ctx, id)
	if err != nil {
		return nil, touched("", id), false, err
	}
	clinics, err := s.admin.ListPartnerClinics(ctx, id)
	if err != nil {
		return nil, touched("", id), false, err
	}
	v := onboarding.ViewPartner(p, s.env, s.now())
	v.Clinics = make([]string, len(clinics))
	for i, cl := range clinics {
		v.Clinics[i] = cl.ID
	}
	return v, touched("", id), false, nil
}

// adminPartnerStatus approves, suspends or reinstates a partner; a
// suspension or reinstatement drops every replica's cached keys at once.
func (s *Server) adminPartnerStatus(action string) adminHandler {
	return func(c *adminCall) (any, facts, bool, error) {
		id := strings.ToLower(c.r.PathValue("id"))
		ctx := c.r.Context()
		p, err := onboarding.SetStatus(ctx, s.admin, s.onboardingDeps(), c.actor(), id, action)
		if err != nil {
			return nil, touched("", id), false, err
		}
		if action != "approve" {
			s.keyChanged(ctx)
		}
		return onboarding.ViewPartner(p, s.env, s.now()), touched("", p.ID), true, nil
	}
}

// AdminBAARequest is the body of POST /api/admin/partners/{id}/baas.
type AdminBAARequest struct {
	SignedOn  string `json:"signed_on"`
	Signer    string `json:"signer"`
	Document  string `json:"document"`
	ExpiresOn string `json:"expires_on"`
}

func (s *Server) adminPartnerBAA(c *adminCall) (any, facts, bool, error) {
	id := strings.ToLower(c.r.PathValue("id"))
	var in AdminBAARequest
	if err := decodeAdmin(c.r, &in); err != nil {
		return nil, touched("", id), false, err
	}
	ctx := c.r.Context()
	p, err := onboarding.RecordBAA(ctx, s.admin, s.onboardingDeps(), c.actor(), id,
		onboarding.BAAInput{SignedOn: in.SignedOn, Signer: in.Signer, Document: in.Document, ExpiresOn: in.ExpiresOn})
	if err != nil {
		return nil, touched("", id), false, err
	}
	s.keyChanged(ctx) // an expired BAA on record refuses production keys
	return onboarding.ViewPartner(p, s.env, s.now()), touched("", p.ID, p.BAA.ID), true, nil
}

func (s *Server) adminClinicsList(c *adminCall) (any, facts, bool, error) {
	ctx := c.r.Context()
	partner := strings.ToLower(c.r.URL.Query().Get("partner"))
	var list []*novamed.Clinic
	var err error
	if partner != "" {
		list, err = s.admin.ListPartnerClinics(ctx, partner)
	} else {
		list, err = s.store.ListClinics(ctx)
	}
	if err != nil {
		return nil, facts{}, false, err
	}
	ids := make([]string, len(list))
	for i, cl := range list {
		ids[i] = cl.ID
	}
	return map[string]any{"clinics": list}, touched("", ids...), false, nil
}

// AdminClinicRequest is the body of POST /api/admin/clinics.
type AdminClinicRequest struct {
	Name      string `json:"name"`
	PartnerID string `json:"partner_id"`
}

func (s *Server) adminClinicsCreate(c *adminCall) (any, facts, bool, error) {
	var in AdminClinicRequest
	if err := decodeAdmin(c.r, &in); err != nil {
		return nil, facts{}, false, err
	}
	cl, err := onboarding.CreateClinic(c.r.Context(), s.admin, s.onboardingDeps(), c.actor(), in.Name, in.PartnerID)
	if err != nil {
		return nil, facts{}, false, err
	}
	return cl, touched(cl.ID, cl.ID), true, nil
}

// AdminClinicUpdate is the body of PATCH /api/admin/clinics/{id}.
type AdminClinicUpdate struct {
	Name         *string `json:"name"`
	FreeShipping *bool   `json:"free_shipping"`
}

func (s *Server) adminClinicsUpdate(c *adminCall) (any, facts, bool, error) {
	id := strings.ToLower(c.r.PathValue("id"))
	var in AdminClinicUpdate
	if err := decodeAdmin(c.r, &in); err != nil {
		return nil, touched("", id), false, err
	}
	cl, err := onboarding.UpdateClinic(c.r.Context(), s.admin, s.onboardingDeps(), c.actor(), id,
		onboarding.ClinicUpdate{Name: in.Name, FreeShipping: in.FreeShipping})
	if err != nil {
		return nil, touched("", id), false, err
	}
	return cl, touched(cl.ID, cl.ID), true, nil
}
