// Package onboarding holds the operator actions on partners, their BAAs,
// clinics and keys, shared by every way staff act (the operator CLI in
// direct mode, the admin API, the staff console): one function per action,
// so the rules — above all who may be issued a key — hold the same
// everywhere, and every action reaches the audit trail in the transaction
// that makes it.
package onboarding

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/apikey"
	"github.com/novamed/partner-api/internal/novamed"
)

// Store is what the actions need of a store.
type Store interface {
	novamed.PartnerStore
	GetClinic(ctx context.Context, id string) (*novamed.Clinic, error)
}

// Actor is who acts and from where, for the audit record.
type Actor struct {
	// ID is the actor as the audit trail writes it: operator:<id>, or
	// local:<os user> for the CLI in direct mode.
	ID string
	// RequestID names the request (admin API) or command run (CLI).
	RequestID string
	// Addr is the client address (admin API); "" for the CLI.
	Addr string
	// Via says through what the action came: "novamed partners create",
	// the admin API's user agent, …
	Via string
}

// Deps are the deployment's environment and clock.
type Deps struct {
	Env novamed.Environment
	Now func() time.Time
}

func (d Deps) now() time.Time {
	if d.Now == nil {
		return time.Now().UTC()
	}
	return d.Now().UTC()
}

// record is the audit record of one operator action that succeeded.
func record(a Actor, at time.Time, action, resourceType string, ids ...string) *novamed.AuditRecord {
	rid := a.RequestID
	if rid == "" {
		rid = "cli_" + uuid.NewString()
	}
	return &novamed.AuditRecord{Time: at, RequestID: rid, Actor: a.ID, Action: action, ResourceType: resourceType,
		ResourceIDs: ids, ClientAddr: a.Addr, UserAgent: a.Via, Status: 200}
}

// CreatePartnerInput are the fields of a new partner.
type CreatePartnerInput struct {
	Name     string
	Contacts []string
}

// CreatePartner creates a partner in status onboarding.
func CreatePartner(ctx context.Context, s Store, d Deps, a Actor, in CreatePartnerInput) (*novamed.Partner, error) {
	name, err := novamed.CheckPartnerName(in.Name)
	if err != nil {
		return nil, err
	}
	contacts := []string{}
	for _, c := range in.Contacts {
		c = strings.TrimSpace(c)
		if c == "" || len(c) > 300 || strings.ContainsAny(c, "\r\n") {
			return nil, novamed.Errorf(novamed.CodeInvalid, "A contact is 1 to 300 characters on one line (for example \"Dana Ops <ops@partner.example>\").")
		}
		contacts = append(contacts, c)
	}
	if len(contacts) > 20 {
		return nil, novamed.Errorf(novamed.CodeInvalid, "A partner has at most 20 contacts.")
	}
	now := d.now()
	p := &novamed.Partner{ID: uuid.Must(uuid.NewV7()).String(), Name: name, Contacts: contacts,
		Status: novamed.PartnerOnboarding, CreatedAt: now, UpdatedAt: now}
	if err := s.CreatePartner(ctx, p, novamed.Effects{Audit: record(a, now, "partner.create", "partner", p.ID)}); err != nil {
		return nil, err
	}
	return s.GetPartner(ctx, p.ID)
}

// SetStatus approves, suspends or reinstates a partner. After a suspension
// or reinstatement the caller announces the key change (as for a
// revocation), so that every replica drops its cached keys at once.
func SetStatus(ctx context.Context, s Store, d Deps, a Actor, partnerID, action string) (*novamed.Partner, error) {
	id, err := partnerIDArg(partnerID)
	if err != nil {
		return nil, err
	}
	switch action {
	case "approve", "suspend", "reinstate":
	default:
		return nil, novamed.Errorf(novamed.CodeInvalid, "Unknown partner action %q (approve, suspend or reinstate).", action)
	}
	now := d.now()
	return s.SetPartnerStatus(ctx, id, action, now, novamed.Effects{Audit: record(a, now, "partner."+action, "partner", id)})
}

// BAAInput are the fields of a BAA to record (dates YYYY-MM-DD).
type BAAInput struct {
	SignedOn, Signer, Document, ExpiresOn string
}

// RecordBAA records a signed BAA for a partner.
func RecordBAA(ctx context.Context, s Store, d Deps, a Actor, partnerID string, in BAAInput) (*novamed.Partner, error) {
	id, err := partnerIDArg(partnerID)
	if err != nil {
		return nil, err
	}
	b, err := novamed.NewBAA(in.SignedOn, in.Signer, in.Document, in.ExpiresOn)
	if err != nil {
		return nil, err
	}
	now := d.now()
	b.ID, b.PartnerID, b.RecordedBy, b.RecordedAt = uuid.Must(uuid.NewV7()).String(), id, a.ID, now
	return s.RecordBAA(ctx, b, novamed.Effects{Audit: record(a, now, "partner.baa_record", "partner", id, b.ID)})
}

// CreateClinic creates a clinic of a partner. On a development deployment
// an empty partnerID means the default development partner (created on
// first use); production needs a partner.
func CreateClinic(ctx context.Context, s Store, d Deps, a Actor, name, partnerID string) (*novamed.Clinic, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 || strings.ContainsAny(name, "\r\n") {
		return nil, novamed.Errorf(novamed.CodeInvalid, "A clinic name is 1 to 200 characters on one line.")
	}
	now := d.now()
	if partnerID == "" {
		if d.Env == novamed.Production {
			return nil, novamed.Errorf(novamed.CodeInvalid, "A production clinic needs a partner (the partner's id).")
		}
		if err := s.EnsureDevPartner(ctx, now); err != nil {
			return nil, err
		}
		partnerID = novamed.DevPartnerID
	}
	id, err := partnerIDArg(partnerID)
	if err != nil {
		return nil, err
	}
	c := &novamed.Clinic{ID: uuid.NewString(), Name: name, PartnerID: id, CreatedAt: now}
	rec := record(a, now, "clinic.create", "clinic", c.ID)
	rec.ClinicID = c.ID
	if err := s.CreatePartnerClinic(ctx, c, novamed.Effects{Audit: rec}); err != nil {
		return nil, err
	}
	return s.GetClinic(ctx, c.ID)
}

// ClinicUpdate are the clinic settings an operator may change (nil: kept).
type ClinicUpdate struct {
	Name         *string
	FreeShipping *bool
}

// UpdateClinic changes a clinic's settings.
func UpdateClinic(ctx context.Context, s Store, d Deps, a Actor, clinicID string, u ClinicUpdate) (*novamed.Clinic, error) {
	if !novamed.IsUUID(clinicID) {
		return nil, novamed.Errorf(novamed.CodeInvalidClinicID, "Clinic id %q is not a UUID.", clinicID)
	}
	id := strings.ToLower(clinicID)
	if u.Name == nil && u.FreeShipping == nil {
		return nil, novamed.Errorf(novamed.CodeInvalid, "Nothing to update: give a name or free_shipping.")
	}
	if u.Name != nil {
		n := strings.TrimSpace(*u.Name)
		if n == "" || len(n) > 200 || strings.ContainsAny(n, "\r\n") {
			return nil, novamed.Errorf(novamed.CodeInvalid, "A clinic name is 1 to 200 characters on one line.")
		}
		u.Name = &n
	}
	now := d.now()
	rec := record(a, now, "clinic.update", "clinic", id)
	rec.ClinicID = id
	return s.UpdateClinic(ctx, id, u.Name, u.FreeShipping, novamed.Effects{Audit: rec})
}

// KeyInput are the fields of a key to issue.
type KeyInput struct {
	Name      string
	Clinics   []string
	ExpiresAt *time.Time
	RateLimit int // requests per minute; 0: the environment's default
	// Replaces rolls this key: the new key is its successor, with its
	// name, clinics, rate limit and expiry (Name, Clinics, ExpiresAt and
	// RateLimit are then ignored), and the old key keeps working for
	// Grace. The issuing rules apply to a successor as to any key.
	Replaces string
	Grace    time.Duration
}

// IssueKey is the one way a key is issued (operator CLI, admin API,
// console). The key is of the deployment's environment, for clinics of
// one partner (the partner follows from the clinics); it is refused
// unless novamed.CheckKeyIssuance accepts that partner, read in the
// transaction that stores the key. It returns the stored key and the key
// itself, shown once.
func IssueKey(ctx context.Context, s Store, d Deps, a Actor, in KeyInput) (*novamed.APIKey, string, error) {
	iss, err := PrepareKey(d, a, in)
	if err != nil {
		return nil, "", err
	}
	if iss.Replaces != "" {
		old, err := s.RollIssuedAPIKey(ctx, iss.Replaces, iss.Key, iss.GraceUntil, iss.Check, novamed.Effects{Audit: iss.Audit})
		if err != nil {
			return nil, "", err
		}
		iss.Key.PartnerID = old.PartnerID
		return iss.Key, iss.Raw, nil
	}
	if err := s.IssueAPIKey(ctx, iss.Key, iss.Check, novamed.Effects{Audit: iss.Audit}); err != nil {
		return nil, "", err
	}
	return iss.Key, iss.Raw, nil
}

// Issuance is a key that passed IssueKey's input rules and was generated,
// but is not stored yet: IssueKey stores it at once; a caller that must
// store it in one transaction with other changes (the approval of a key
// request) hands it to its store, which applies Check and writes Audit in
// that transaction.
type Issuance struct {
	// Key holds the new key's hash only; Raw is the key, to show once.
	// For a roll the store copies name, clinics, limit and expiry from
	// the old key.
	Key *novamed.APIKey
	Raw string
	// Replaces is the key a roll replaces; it keeps working until
	// GraceUntil.
	Replaces   string
	GraceUntil time.Time
	// Check is the issuing rule (novamed.CheckKeyIssuance), applied to the
	// key's partner as read in the storing transaction.
	Check func(*novamed.Partner) error
	// Audit is the record of the issuance: api_key.issue or api_key.roll.
	Audit *novamed.AuditRecord
}

// PrepareKey checks in as IssueKey does and generates the key, storing
// nothing.
func PrepareKey(d Deps, a Actor, in KeyInput) (*Issuance, error) {
	now := d.now()
	check := func(p *novamed.Partner) error { return novamed.CheckKeyIssuance(d.Env, p, now) }
	if in.Replaces != "" {
		// Name, clinics, limit and expiry are the old key's: the store
		// copies them in the transaction that locks it.
		id := strings.ToLower(in.Replaces)
		if !novamed.IsUUID(id) {
			return nil, novamed.NotFound("API key")
		}
		if in.Grace < 0 || in.Grace > 90*24*time.Hour {
			return nil, novamed.Errorf(novamed.CodeInvalid, "The grace period is at most 90 days.")
		}
		next, raw, err := NewKey(d.Env, "", nil, nil, 0, now)
		if err != nil {
			return nil, err
		}
		rec := record(a, now, "api_key.roll", "api_key", id, next.ID)
		rec.KeyPrefix = next.Prefix
		return &Issuance{Key: next, Raw: raw, Replaces: id, GraceUntil: now.Add(in.Grace), Check: check, Audit: rec}, nil
	}
	if len(in.Clinics) == 0 {
		return nil, novamed.Errorf(novamed.CodeInvalid, "A key must be granted at least one clinic.")
	}
	clinics := make([]string, 0, len(in.Clinics))
	for _, c := range in.Clinics {
		if !novamed.IsUUID(c) {
			return nil, novamed.Errorf(novamed.CodeInvalidClinicID, "Clinic id %q is not a UUID.", c)
		}
		clinics = append(clinics, strings.ToLower(c))
	}
	name := strings.TrimSpace(in.Name)
	if name == "" {
		name = "Partner key"
	}
	if len(name) > 200 || strings.ContainsAny(name, "\r\n") {
		return nil, novamed.Errorf(novamed.CodeInvalid, "A key name is at most 200 characters on one line.")
	}
	if in.RateLimit < 0 || in.RateLimit > 1_000_000 {
		return nil, novamed.Errorf(novamed.CodeInvalid, "The rate limit is 0 to 1000000 requests per minute.")
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(now) {
		return nil, novamed.Errorf(novamed.CodeInvalid, "The expiry must be in the future.")
	}
	k, raw, err := NewKey(d.Env, name, clinics, in.ExpiresAt, in.RateLimit, now)
	if err != nil {
		return nil, err
	}
	rec := record(a, now, "api_key.issue", "api_key", k.ID)
	if len(clinics) == 1 {
		rec.ClinicID = clinics[0]
	}
	rec.KeyPrefix = k.Prefix
	return &Issuance{Key: k, Raw: raw, Check: check, Audit: rec}, nil
}

// NewKey generates a key of env; the returned APIKey holds only its hash
// (raw is the key, to show once). It stores nothing: IssueKey is the way
// to issue one; a roll stores its successor with the store's RollAPIKey.
func NewKey(env novamed.Environment, name string, clinics []string, expiresAt *time.Time, rateLimit int, now time.Time) (*novamed.APIKey, string, error) {
	raw, err := apikey.Generate(string(env))
	if err != nil {
		return nil, "", err
	}
	id := uuid.NewString()
	return &novamed.APIKey{
		ID: id, Owner: id, Name: name, Environment: env, Prefix: apikey.DisplayPrefix(raw),
		HashHex: apikey.HashKey(raw).Hex(), Clinics: clinics, RateLimit: rateLimit,
		CreatedAt: now.UTC(), ExpiresAt: expiresAt,
	}, raw, nil
}

func partnerIDArg(id string) (string, error) {
	if !novamed.IsUUID(id) {
		return "", novamed.Errorf(novamed.CodeInvalid, "Partner id %q is not a UUID.", id)
	}
	return strings.ToLower(id), nil
}
