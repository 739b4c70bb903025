// Package keyrequest is the queue of key requests on a production
// deployment (issue 24): a partner admin asks in the developer portal for
// a new production key or for the roll of one of their production keys;
// NovaMed staff approve (the key is issued through onboarding.IssueKey,
// so a partner without an approved status and a BAA is refused) or reject
// with a reason. The issued key is kept sealed until the requesting
// partner admin views it once in the portal; then only its hash remains.
package keyrequest

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
)

// Kind says what a request asks for.
type Kind string

// The kinds of request.
const (
	Issue Kind = "issue"
	Roll  Kind = "roll"
)

// Status is where a request is in the queue.
type Status string

// The statuses of a request.
const (
	Pending  Status = "pending"
	Approved Status = "approved"
	Rejected Status = "rejected"
)

// Request is one key request.
type Request struct {
	ID        string `json:"id"`
	PartnerID string `json:"partner_id"`
	Kind      Kind   `json:"kind"`
	// KeyID is the key to roll (kind roll).
	KeyID string `json:"key_id,omitempty"`
	// Name, Clinics, ExpiresAt and RateLimit are the requested key's
	// (kind issue); Grace is the roll's grace period (kind roll).
	Name      string        `json:"name"`
	Clinics   []string      `json:"clinics"`
	ExpiresAt *time.Time    `json:"expires_at,omitempty"`
	RateLimit int           `json:"rate_limit"`
	Grace     time.Duration `json:"-"`
	Status    Status        `json:"status"`
	// RequestedBy is the partner user's audit actor (partner_user:<id>);
	// DecidedBy the operator's (operator:<id>).
	RequestedBy string     `json:"requested_by"`
	CreatedAt   time.Time  `json:"created_at"`
	DecidedBy   string     `json:"decided_by,omitempty"`
	DecidedAt   *time.Time `json:"decided_at,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	// IssuedKeyID and IssuedPrefix name the key issued on approval.
	IssuedKeyID  string `json:"issued_key_id,omitempty"`
	IssuedPrefix string `json:"issued_prefix,omitempty"`
	// Waiting reports that the issued key is still sealed in the store,
	// not yet viewed by the partner.
	Waiting     bool       `json:"waiting_for_partner"`
	CollectedAt *time.Time `json:"collected_at,omitempty"`
}

// GraceText is a roll's grace for people: "none", "90s", "30 min",
// "24 h", "7 days".
func (r *Request) GraceText() string {
	g := r.Grace
	switch {
	case g <= 0:
		return "none"
	case g%(24*time.Hour) == 0 && g > 24*time.Hour:
		return strconv.FormatInt(int64(g/(24*time.Hour)), 10) + " days"
	case g%time.Hour == 0:
		return strconv.FormatInt(int64(g/time.Hour), 10) + " h"
	case g%time.Minute == 0:
		return strconv.FormatInt(int64(g/time.Minute), 10) + " min"
	}
	return g.String()
}

// MaxPending is how many requests one partner may have waiting at once:
// the queue is shared by every partner's requests and NovaMed's staff, so
// one partner cannot flood it.
const MaxPending = 10

// ErrTooManyPending is the refusal of a request beyond MaxPending.
func ErrTooManyPending() *novamed.Error {
	return novamed.Errorf(novamed.CodeLimitReached,
		"%d key requests of your organisation are already waiting for NovaMed staff: wait for a decision on them before requesting more.", MaxPending)
}

// Filter selects a page of requests, newest first.
type Filter struct {
	// PartnerID and Status narrow the list when not "".
	PartnerID string
	Status    Status
	// Decided selects the requests no longer pending (Status "").
	Decided bool
	// Limit is the page size; Cursor the Next of the previous page.
	Limit  int
	Cursor string
}

// ValidCursor reports whether c looks like a Next of PageKeyRequests.
func ValidCursor(c string) bool {
	at, id, ok := strings.Cut(c, "_")
	if !ok || !novamed.IsUUID(id) || at == "" {
		return false
	}
	_, err := strconv.ParseInt(at, 10, 64)
	return err == nil
}

// Store keeps the queue.
type Store interface {
	onboarding.Store
	// CreateKeyRequest queues r; with the partner's row locked it refuses
	// (ErrTooManyPending) a pending request beyond MaxPending.
	CreateKeyRequest(ctx context.Context, r *Request, eff novamed.Effects) error
	GetKeyRequest(ctx context.Context, id string) (*Request, error)
	// ListKeyRequests lists requests newest first: one partner's when
	// partnerID is not "", of one status when status is not "".
	ListKeyRequests(ctx context.Context, partnerID string, status Status) ([]*Request, error)
	// PageKeyRequests lists one page of requests newest first and the
	// cursor of the next page ("" after the last).
	PageKeyRequests(ctx context.Context, f Filter) ([]*Request, string, error)
	// CountKeyRequests counts requests, as ListKeyRequests selects them.
	CountKeyRequests(ctx context.Context, partnerID string, status Status) (int, error)
	// ApproveKeyRequest approves pending request r (DecidedBy and
	// DecidedAt set) in one transaction: it stores the key of iss after
	// iss.Check accepted the partner (the successor of iss.Replaces for a
	// roll), refuses a key that is not r's partner's, seals iss.Raw to the
	// request until collected, and writes iss.Audit and eff. Any failure
	// leaves no key issued and the request pending; a request no longer
	// pending is a *novamed.Error with CodeInvalidTransition.
	ApproveKeyRequest(ctx context.Context, r *Request, iss *onboarding.Issuance, eff novamed.Effects) error
	// RejectKeyRequest moves a pending request to rejected (DecidedBy,
	// DecidedAt and Reason set); a request no longer pending is a
	// *novamed.Error with CodeInvalidTransition.
	RejectKeyRequest(ctx context.Context, r *Request, eff novamed.Effects) error
	// CollectIssuedKey returns the sealed key of an approved request of
	// that partner once and erases it; novamed.NotFound after that.
	CollectIssuedKey(ctx context.Context, id, partnerID string, at time.Time, eff novamed.Effects) (string, error)
}

// Actor is who acts: partner_user:<id> for a request, operator:<id> for a
// decision.
type Actor = onboarding.Actor

// Service applies the queue's rules.
type Service struct {
	Store Store
	Env   novamed.Environment
	Now   func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

func (s *Service) record(a Actor, at time.Time, action string, status int, ids ...string) *novamed.AuditRecord {
	rid := a.RequestID
	if rid == "" {
		rid = "kr_" + uuid.NewString()
	}
	return &novamed.AuditRecord{Time: at, RequestID: rid, Actor: a.ID, Action: action, ResourceType: "key_request",
		ResourceIDs: ids, ClientAddr: a.Addr, UserAgent: a.Via, Status: status}
}

// RequestInput is what a partner admin asks for.
type RequestInput struct {
	Kind      Kind
	KeyID     string
	Name      string
	Clinics   []string
	ExpiresAt *time.Time
	RateLimit int
	Grace     time.Duration
}

// Request queues a request of partner partnerID. The caller has checked
// that the actor is an admin of that partner and that the clinics and the
// key (kind roll) are the partner's.
func (s *Service) Request(ctx context.Context, a Actor, partnerID string, in RequestInput) (*Request, error) {
	now := s.now()
	r := &Request{ID: uuid.Must(uuid.NewV7()).String(), PartnerID: partnerID, Kind: in.Kind, Status: Pending,
		RequestedBy: a.ID, CreatedAt: now, Clinics: []string{}}
	switch in.Kind {
	case Issue:
		name := strings.TrimSpace(in.Name)
		if name == "" || len(name) > 200 || strings.ContainsAny(name, "\r\n") {
			return nil, novamed.Errorf(novamed.CodeInvalid, "A key name is 1 to 200 characters on one line.")
		}
		if len(in.Clinics) == 0 {
			return nil, novamed.Errorf(novamed.CodeInvalid, "Choose at least one clinic.")
		}
		for _, c := range in.Clinics {
			if !novamed.IsUUID(c) {
				return nil, novamed.Errorf(novamed.CodeInvalid, "Choose clinics from the list.")
			}
			r.Clinics = append(r.Clinics, strings.ToLower(c))
		}
		if in.RateLimit < 0 || in.RateLimit > 1_000_000 {
			return nil, novamed.Errorf(novamed.CodeInvalid, "The rate limit is 0 to 1000000 requests per minute.")
		}
		if in.ExpiresAt != nil && !in.ExpiresAt.After(now) {
			return nil, novamed.Errorf(novamed.CodeInvalid, "The expiry must be in the future.")
		}
		r.Name, r.ExpiresAt, r.RateLimit = name, in.ExpiresAt, in.RateLimit
	case Roll:
		if !novamed.IsUUID(in.KeyID) {
			return nil, novamed.NotFound("API key")
		}
		if in.Grace < 0 || in.Grace > 90*24*time.Hour {
			return nil, novamed.Errorf(novamed.CodeInvalid, "The grace period is at most 90 days.")
		}
		r.KeyID, r.Grace, r.Name = strings.ToLower(in.KeyID), in.Grace, strings.TrimSpace(in.Name)
	default:
		return nil, novamed.Errorf(novamed.CodeInvalid, "Unknown request kind %q (issue or roll).", in.Kind)
	}
	if err := s.Store.CreateKeyRequest(ctx, r, novamed.Effects{Audit: s.record(a, now, "key_request.create", 200, r.ID)}); err != nil {
		return nil, err
	}
	return r, nil
}

// Approve issues the requested key (or the roll) under
// onboarding.IssueKey's rules and marks the request approved with the key
// sealed for the partner, in one transaction with both audit records
// (api_key.issue or api_key.roll, and key_request.approve): a refusal —
// no BAA, a partner not approved, a request another operator decided
// first (CodeInvalidTransition, 409) — leaves the request pending and no key
// issued.
func (s *Service) Approve(ctx context.Context, a Actor, id string) (*Request, error) {
	r, err := s.pending(ctx, id)
	if err != nil {
		return nil, err
	}
	in := onboarding.KeyInput{Name: r.Name, Clinics: r.Clinics, ExpiresAt: r.ExpiresAt, RateLimit: r.RateLimit}
	if r.Kind == Roll {
		in = onboarding.KeyInput{Replaces: r.KeyID, Grace: r.Grace}
	}
	iss, err := onboarding.PrepareKey(onboarding.Deps{Env: s.Env, Now: s.Now}, a, in)
	if err != nil {
		return nil, err
	}
	now := s.now()
	r.DecidedBy, r.DecidedAt = a.ID, &now
	if err := s.Store.ApproveKeyRequest(ctx, r, iss, novamed.Effects{Audit: s.record(a, now, "key_request.approve", 200, r.ID, iss.Key.ID)}); err != nil {
		return nil, err
	}
	r.Status, r.IssuedKeyID, r.IssuedPrefix, r.Waiting = Approved, iss.Key.ID, iss.Key.Prefix, true
	return r, nil
}

// Reject rejects a pending request with a reason the partner sees.
func (s *Service) Reject(ctx context.Context, a Actor, id, reason string) (*Request, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > 500 {
		return nil, novamed.Errorf(novamed.CodeInvalid, "Give a reason of 1 to 500 characters.")
	}
	r, err := s.pending(ctx, id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	r.DecidedBy, r.DecidedAt, r.Reason = a.ID, &now, reason
	if err := s.Store.RejectKeyRequest(ctx, r, novamed.Effects{Audit: s.record(a, now, "key_request.reject", 200, r.ID)}); err != nil {
		return nil, err
	}
	r.Status = Rejected
	return r, nil
}

func (s *Service) pending(ctx context.Context, id string) (*Request, error) {
	if !novamed.IsUUID(id) {
		return nil, novamed.NotFound("Key request")
	}
	r, err := s.Store.GetKeyRequest(ctx, strings.ToLower(id))
	if err != nil {
		return nil, err
	}
	if r.Status != Pending {
		return nil, novamed.Errorf(novamed.CodeInvalidTransition, "This request was already %s.", r.Status)
	}
	return r, nil
}

// Collect returns the key issued for request id of partner partnerID, once.
func (s *Service) Collect(ctx context.Context, a Actor, partnerID, id string) (string, error) {
	if !novamed.IsUUID(id) {
		return "", novamed.NotFound("Key request")
	}
	now := s.now()
	return s.Store.CollectIssuedKey(ctx, strings.ToLower(id), partnerID, now, novamed.Effects{Audit: s.record(a, now, "key_request.collect", 200, strings.ToLower(id))})
}
