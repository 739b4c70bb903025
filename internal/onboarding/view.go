package onboarding

import (
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// PartnerView is how a partner is shown to operators (CLI --json, admin
// API, console): the partner, its BAA on record, its BAA state and the
// flags every listing shows beside it.
type PartnerView struct {
	*novamed.Partner
	// BAAState is "on record", "missing" or "expired".
	BAAState string `json:"baa_state"`
	// Flags are the warnings an operator must see: "BAA missing" (on
	// production), "BAA expired on DATE".
	Flags []string `json:"flags"`
	// Clinics are the partner's clinic ids (shown by a single partner's
	// view, not by lists).
	Clinics []string `json:"clinics,omitempty"`
}

// ViewPartner is p as operators see it at now on a deployment of env.
func ViewPartner(p *novamed.Partner, env novamed.Environment, now time.Time) PartnerView {
	return PartnerView{Partner: p, BAAState: p.BAAState(now), Flags: PartnerFlags(p, env, now)}
}

// PartnerFlags are the warnings shown beside a partner on every listing.
func PartnerFlags(p *novamed.Partner, env novamed.Environment, now time.Time) []string {
	flags := []string{}
	switch p.BAAState(now) {
	case "missing":
		if env == novamed.Production {
			flags = append(flags, "BAA missing")
		}
	case "expired":
		flags = append(flags, "BAA expired on "+p.BAA.ExpiresOn)
	}
	return flags
}

// KeyFlags are the partner warnings shown beside a key on operator
// listings: its partner not approved, and for a production key a missing
// BAA or an expired one (the key is then refused).
func KeyFlags(k *novamed.APIKey, now time.Time) []string {
	p := k.Partner
	if p == nil {
		return nil
	}
	var flags []string
	if p.Status != novamed.PartnerApproved {
		flags = append(flags, "partner "+string(p.Status))
	}
	if k.Environment == novamed.Production {
		switch {
		case !p.HasBAA:
			flags = append(flags, "BAA missing")
		case p.BAAExpiresAt != nil && !now.Before(*p.BAAExpiresAt):
			flags = append(flags, "BAA expired (key refused)")
		}
	}
	return flags
}
