package novamed

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// PartnerStatus is where a partner is in onboarding.
type PartnerStatus string

// Partner statuses: onboarding → approved → suspended, and back to
// approved when reinstated.
const (
	PartnerOnboarding PartnerStatus = "onboarding"
	PartnerApproved   PartnerStatus = "approved"
	PartnerSuspended  PartnerStatus = "suspended"
)

// DevPartnerID is the default development partner: on a development
// deployment a clinic created without a partner belongs to it (approved,
// without a BAA), so the demo clinic and scripts that predate partners
// keep working. Production has no default partner.
const DevPartnerID = "00000000-0000-4000-8000-00000000d0e5"

// DevPartnerName is the default development partner's name.
const DevPartnerName = "Development partner"

// Partner is the organisation (a telehealth platform, a clinic group, a
// pharmacy system) that clinics and keys belong to.
type Partner struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	Contacts  []string      `json:"contacts"`
	Status    PartnerStatus `json:"status"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
	// BAA is the BAA on record (the one signed last), nil when none was
	// recorded.
	BAA *BAA `json:"baa"`
}

// BAA is one recorded Business Associate Agreement. SignedOn and
// ExpiresOn are calendar dates (YYYY-MM-DD); a BAA expires at 00:00 UTC
// of ExpiresOn: from that instant it is no longer in effect.
type BAA struct {
	ID         string    `json:"id"`
	PartnerID  string    `json:"partner_id"`
	SignedOn   string    `json:"signed_on"`
	Signer     string    `json:"signer"`
	Document   string    `json:"document"`
	ExpiresOn  string    `json:"expires_on,omitempty"`
	RecordedBy string    `json:"recorded_by"`
	RecordedAt time.Time `json:"recorded_at"`
}

// ExpiresAt is the instant the BAA stops being in effect, nil if it
// does not expire.
func (b *BAA) ExpiresAt() *time.Time {
	if b == nil || b.ExpiresOn == "" {
		return nil
	}
	t, err := time.Parse(time.DateOnly, b.ExpiresOn)
	if err != nil {
		return nil
	}
	return &t
}

// Expired reports whether the BAA is no longer in effect at now.
func (b *BAA) Expired(now time.Time) bool {
	e := b.ExpiresAt()
	return e != nil && !now.Before(*e)
}

// BAAState names a partner's BAA standing for operator listings:
// "on record", "missing" or "expired".
func (p *Partner) BAAState(now time.Time) string {
	switch {
	case p.BAA == nil:
		return "missing"
	case p.BAA.Expired(now):
		return "expired"
	}
	return "on record"
}

// PartnerKeyState is what authentication needs to know of a key's
// partner; it travels with the key (APIKey.Partner) so that a cached key
// carries it too.
type PartnerKeyState struct {
	Status PartnerStatus
	// BAAExpiresAt is when the partner's BAA on record stops being in
	// effect (nil: no BAA, or one without expiry).
	BAAExpiresAt *time.Time
	// HasBAA reports whether a BAA is on record (expired or not).
	HasBAA bool
}

// Refused reports why a key of this partner may not authenticate at now
// on a deployment of environment env, or "" if it may: a partner that is
// not approved (suspended) has all its keys refused; on production, a
// partner's keys are refused from its BAA's expiry. A missing BAA does
// not refuse keys issued before partners existed (they are flagged "BAA
// missing" on listings instead).
func (s *PartnerKeyState) Refused(env Environment, now time.Time) string {
	if s == nil {
		return ""
	}
	if s.Status != PartnerApproved {
		return "partner_" + string(s.Status)
	}
	if env == Production && s.BAAExpiresAt != nil && !now.Before(*s.BAAExpiresAt) {
		return "baa_expired"
	}
	return ""
}

// CheckKeyIssuance says whether a key may be issued to partner p at now
// on a deployment of environment env: development keys need an approved
// partner; production keys need an approved partner with a BAA on record
// that has not expired. The error (CodePartnerNotApproved or
// CodeBAARequired) says why.
func CheckKeyIssuance(env Environment, p *Partner, now time.Time) error {
	if p == nil {
		return Errorf(CodeInvalid, "The clinic belongs to no partner; give it one before issuing keys.")
	}
	if p.Status != PartnerApproved {
		return Errorf(CodePartnerNotApproved, "Partner %s is %s: keys are issued only to an approved partner.", p.ID, p.Status)
	}
	if env == Production {
		if p.BAA == nil {
			return Errorf(CodeBAARequired, "Partner %s has no BAA on record: production keys need a signed BAA (novamed partners baa %s --signed-on DATE --signer NAME).", p.ID, p.ID)
		}
		if p.BAA.Expired(now) {
			return Errorf(CodeBAARequired, "Partner %s's BAA expired on %s: production keys need a BAA in effect; record the renewed one first.", p.ID, p.BAA.ExpiresOn)
		}
	}
	return nil
}

// Transition returns the status an operator action (approve, suspend,
// reinstate) moves a partner in status from to, or an error naming why
// it cannot. Repeating an action whose result already holds is allowed
// (from == the result), so scripts may retry.
func (from PartnerStatus) Transition(action string) (PartnerStatus, error) {
	var to PartnerStatus
	var allowed []PartnerStatus
	switch action {
	case "approve":
		to, allowed = PartnerApproved, []PartnerStatus{PartnerOnboarding}
	case "suspend":
		to, allowed = PartnerSuspended, []PartnerStatus{PartnerApproved}
	case "reinstate":
		to, allowed = PartnerApproved, []PartnerStatus{PartnerSuspended}
	default:
		return "", fmt.Errorf("novamed: unknown partner action %q", action)
	}
	if from == to {
		return to, nil
	}
	for _, a := range allowed {
		if from == a {
			return to, nil
		}
	}
	if action == "approve" && from == PartnerSuspended {
		return "", Errorf(CodeInvalidTransition, "The partner is suspended: reinstate it instead.")
	}
	return "", Errorf(CodeInvalidTransition, "A %s partner cannot be %s.", from, pastTense(action))
}

func pastTense(action string) string {
	switch action {
	case "approve":
		return "approved"
	case "suspend":
		return "suspended"
	}
	return "reinstated"
}

// CheckPartnerName trims a partner name and checks its length (1 to 200
// characters, one line).
func CheckPartnerName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 200 || strings.ContainsAny(name, "\r\n") {
		return "", Errorf(CodeInvalid, "A partner name is 1 to 200 characters on one line.")
	}
	return name, nil
}

// NewBAA checks the fields of a BAA to record: dates as YYYY-MM-DD, an
// expiry (if any) after the signing date, a signer, and a document
// reference (a URL, a file name, or a hash) of at most 500 characters.
func NewBAA(signedOn, signer, document, expiresOn string) (*BAA, error) {
	b := &BAA{SignedOn: strings.TrimSpace(signedOn), Signer: strings.TrimSpace(signer),
		Document: strings.TrimSpace(document), ExpiresOn: strings.TrimSpace(expiresOn)}
	signed, err := time.Parse(time.DateOnly, b.SignedOn)
	if err != nil {
		return nil, Errorf(CodeInvalid, "signed_on must be a date (YYYY-MM-DD).")
	}
	if b.Signer == "" || utf8.RuneCountInString(b.Signer) > 200 || strings.ContainsAny(b.Signer, "\r\n") {
		return nil, Errorf(CodeInvalid, "signer is required (1 to 200 characters on one line).")
	}
	if utf8.RuneCountInString(b.Document) > 500 || strings.ContainsAny(b.Document, "\r\n") {
		return nil, Errorf(CodeInvalid, "document is at most 500 characters on one line.")
	}
	if b.ExpiresOn != "" {
		exp, err := time.Parse(time.DateOnly, b.ExpiresOn)
		if err != nil {
			return nil, Errorf(CodeInvalid, "expires_on must be a date (YYYY-MM-DD).")
		}
		if !exp.After(signed) {
			return nil, Errorf(CodeInvalid, "expires_on must be after signed_on.")
		}
	}
	return b, nil
}

// PartnerStore persists partners and their BAAs. Each write commits its
// effects (the operator's audit record) in the same transaction.
type PartnerStore interface {
	CreatePartner(ctx context.Context, p *Partner, eff Effects) error
	GetPartner(ctx context.Context, id string) (*Partner, error)
	ListPartners(ctx context.Context) ([]*Partner, error)
	// SetPartnerStatus applies an operator action (approve, suspend,
	// reinstate; see PartnerStatus.Transition) at time at.
	SetPartnerStatus(ctx context.Context, id, action string, at time.Time, eff Effects) (*Partner, error)
	// RecordBAA stores b for partner b.PartnerID.
	RecordBAA(ctx context.Context, b *BAA, eff Effects) (*Partner, error)
	// EnsureDevPartner creates the default development partner if it does
	// not exist.
	EnsureDevPartner(ctx context.Context, at time.Time) error
	// IssueAPIKey stores k (as CreateAPIKey) after check accepted the
	// partner of its clinics, read in the same transaction; k.PartnerID is
	// set to that partner.
	IssueAPIKey(ctx context.Context, k *APIKey, check func(*Partner) error, eff Effects) error
	// RollIssuedAPIKey stores next as the successor of key id (as
	// RollAPIKey) after check accepted the partner of that key's clinics,
	// read in the same transaction, with eff.
	RollIssuedAPIKey(ctx context.Context, id string, next *APIKey, graceUntil time.Time, check func(*Partner) error, eff Effects) (*APIKey, error)
	// CreatePartnerClinic stores a clinic of partner c.PartnerID (which
	// must exist) with eff.
	CreatePartnerClinic(ctx context.Context, c *Clinic, eff Effects) error
	// ListPartnerClinics lists one partner's clinics, oldest first.
	ListPartnerClinics(ctx context.Context, partnerID string) ([]*Clinic, error)
	// UpdateClinic changes a clinic's name and/or free shipping (nil:
	// kept) with eff. A clinic never changes partner (its keys belong
	// to that partner).
	UpdateClinic(ctx context.Context, id string, name *string, freeShipping *bool, eff Effects) (*Clinic, error)
}
