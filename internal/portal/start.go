package portal

import (
	"net/http"

	"github.com/novamed/partner-api/internal/novamed"
)

type startData struct {
	BaseURL, Env string
	Clinics      []*novamed.Clinic
	// Clinic is the clinic the examples use (the first).
	Clinic string
}

// baseURL is where partners reach the API: Config.BaseURL, else the
// scheme and host the browser used for the portal.
func (p *Portal) baseURL(r *http.Request) string {
	if p.cfg.BaseURL != "" {
		return p.cfg.BaseURL
	}
	scheme := "http"
	if r.TLS != nil || p.cfg.HSTS {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// start is the getting-started page: the partner's clinic ids, the base
// URL and the quickstart's first requests filled in with them. The key
// is never in it: the examples read it from $NOVAMED_API_KEY.
func (p *Portal) start(q *req) error {
	clinics, err := p.cfg.Store.ListPartnerClinics(q.r.Context(), q.partner.ID)
	if err != nil {
		return err
	}
	d := &startData{BaseURL: p.baseURL(q.r), Env: string(p.cfg.Env), Clinics: clinics, Clinic: "YOUR_CLINIC_ID"}
	if len(clinics) > 0 {
		d.Clinic = clinics[0].ID
	}
	p.render(q.w, q.r, http.StatusOK, "start", p.newView(q.r, q, "Getting started", d))
	return nil
}
