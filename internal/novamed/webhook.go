package novamed

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"time"
)

// MaxWebhooksPerClinic bounds registrations per clinic.
const MaxWebhooksPerClinic = 10

// MaxWebhookOverlap bounds a secret rotation's overlap.
const MaxWebhookOverlap = 7 * 24 * time.Hour

// DefaultWebhookOverlap is a rotation's overlap when none is given.
const DefaultWebhookOverlap = 24 * time.Hour

// Webhook is a partner URL that receives a clinic's events.
type Webhook struct {
	ID        string         `json:"id"`
	ClinicID  string         `json:"clinic_id"`
	URL       string         `json:"webhook_url"`
	Secrets   WebhookSecrets `json:"-"` // shown once at creation and rotation, kept sealed
	CreatedAt time.Time      `json:"created_at"`
}

// WebhookSecrets are a webhook's two secrets: the verification token every
// delivery carries as x-api-key (what the published guide tells partners to
// compare), and the signing secret (whsec_…) that keys the Standard Webhooks
// signature and never travels. A rotation keeps the replaced pair in use
// until OverlapUntil: deliveries then carry the previous token and one
// signature per signing secret.
type WebhookSecrets struct {
	SigningSecret         string
	VerificationToken     string
	PreviousSigningSecret string
	PreviousToken         string
	OverlapUntil          time.Time // zero: no rotation in progress
}

// NewWebhookSecrets draws a webhook's two secrets: the signing secret in
// the Standard Webhooks form (whsec_ + base64 of 32 random bytes) and an
// unrelated verification token (whvt_ + base64url of 32 random bytes).
func NewWebhookSecrets() WebhookSecrets {
	var sign, token [32]byte
	rand.Read(sign[:])  //nolint:errcheck // crypto/rand does not fail
	rand.Read(token[:]) //nolint:errcheck // crypto/rand does not fail
	return WebhookSecrets{SigningSecret: "whsec_" + base64.StdEncoding.EncodeToString(sign[:]),
		VerificationToken: "whvt_" + base64.RawURLEncoding.EncodeToString(token[:])}
}

// At returns what a delivery sent at t carries: the x-api-key token and the
// signing secrets, one signature each (newest first).
func (s WebhookSecrets) At(t time.Time) (token string, signing []string) {
	if s.InOverlap(t) {
		return s.PreviousToken, []string{s.SigningSecret, s.PreviousSigningSecret}
	}
	return s.VerificationToken, []string{s.SigningSecret}
}

// InOverlap reports whether a rotation's previous secrets are still in use at t.
func (s WebhookSecrets) InOverlap(t time.Time) bool {
	return s.PreviousSigningSecret != "" && t.Before(s.OverlapUntil)
}

// Rotated returns the secrets after a rotation at now to fresh (its
// SigningSecret and VerificationToken). The pair in use before stays in use
// until until (none if until is not after now); a rotation during an overlap
// keeps the pair deliveries still carry (the interrupted rotation's new
// secrets never took effect on their own) and drops the interrupted ones.
func (s WebhookSecrets) Rotated(fresh WebhookSecrets, now, until time.Time) WebhookSecrets {
	out := WebhookSecrets{SigningSecret: fresh.SigningSecret, VerificationToken: fresh.VerificationToken}
	if !until.After(now) {
		return out
	}
	out.PreviousSigningSecret, out.PreviousToken = s.SigningSecret, s.VerificationToken
	if s.InOverlap(now) {
		out.PreviousSigningSecret, out.PreviousToken = s.PreviousSigningSecret, s.PreviousToken
	}
	out.OverlapUntil = until.UTC().Truncate(time.Microsecond)
	return out
}

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliverySucceeded = "succeeded"
	DeliveryFailed    = "failed"
)

// Delivery is one event on its way to one webhook; its id is the
// webhook-id header, stable across attempts.
type Delivery struct {
	ID            string     `json:"id"`
	WebhookID     string     `json:"webhook_id"`
	EventID       string     `json:"event_id"`
	EventName     string     `json:"event_name"`
	ClinicID      string     `json:"clinic_id"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempt_count"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	History       []Attempt  `json:"attempts"`
}

// Attempt is one try at delivering.
type Attempt struct {
	Number     int       `json:"attempt"`
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code,omitempty"`
	LatencyMS  int64     `json:"latency_ms"`
	Error      string    `json:"error,omitempty"`
}

// DeliveryJob is a claimed delivery with what the worker needs to send it.
type DeliveryJob struct {
	Delivery
	URL     string
	Secrets WebhookSecrets
	Event   *Event
}

// DeliveryFilter selects deliveries.
type DeliveryFilter struct {
	Clinics   []string // nil: every clinic (operator)
	WebhookID string
	Status    string
	Limit     int
	Cursor    string
}

// WebhookAPIStore is the partner API's side of webhooks: registration and
// the delivery log.
type WebhookAPIStore interface {
	// CreateWebhook fails with CodeLimitReached past MaxWebhooksPerClinic.
	CreateWebhook(ctx context.Context, w *Webhook, eff Effects) error
	GetWebhook(ctx context.Context, id string, clinics []string) (*Webhook, error)
	ListWebhooks(ctx context.Context, f ListFilter) (items []*Webhook, next string, err error)
	DeleteWebhook(ctx context.Context, id string, clinics []string, eff Effects) error
	// RotateWebhookSecrets gives a live webhook of one of clinics fresh's
	// signing secret and verification token, the previous ones staying in
	// use until overlapUntil (see WebhookSecrets.Rotated), and returns the
	// webhook with its new secrets.
	RotateWebhookSecrets(ctx context.Context, id string, clinics []string, fresh WebhookSecrets, overlapUntil time.Time, eff Effects) (*Webhook, error)
	// SendTestEvent records a webhook:test event for one webhook only.
	SendTestEvent(ctx context.Context, webhookID string, ev *Event) (*Delivery, error)
	ListDeliveries(ctx context.Context, f DeliveryFilter) (items []*Delivery, next string, err error)
	// RetryDelivery queues a delivery (of webhookID, unless "") for one more
	// immediate attempt, outside the per-order ordering: it neither waits
	// for nor holds back other events of its order.
	RetryDelivery(ctx context.Context, id, webhookID string, clinics []string) (*Delivery, error)
}

// DeliveryQueue is the webhook worker's side (internal/webhook): it leases
// due deliveries and records their attempts.
type DeliveryQueue interface {
	// ClaimDeliveries leases due deliveries to worker until now+lease; a
	// delivery leased to another live worker is never handed out, nor one
	// whose webhook has a pending delivery of an earlier event about the
	// same order (events about one order reach a webhook in order).
	ClaimDeliveries(ctx context.Context, worker string, lease time.Duration, limit int) ([]*DeliveryJob, error)
	// RecordAttempt stores an attempt of a leased delivery and its new
	// status; it is ignored (false) if the lease was lost.
	RecordAttempt(ctx context.Context, deliveryID, worker string, a Attempt, status string, next *time.Time) (bool, error)
	// PendingDeliveries counts deliveries waiting for an attempt.
	PendingDeliveries(ctx context.Context) (int, error)
}

// WebhookStore persists webhooks and their delivery queue.
type WebhookStore interface {
	WebhookAPIStore
	DeliveryQueue
}

// EventOrderingKey names the sequence an event belongs to: events with one
// key reach each webhook in the order they happened. Events about an order
// (medication_order:* and shipment:*) share the order's key; other events
// ("") are not ordered.
func EventOrderingKey(ev *Event) string {
	if !strings.HasPrefix(ev.Name, "medication_order:") && !strings.HasPrefix(ev.Name, "shipment:") {
		return ""
	}
	for _, k := range []string{"medication_order_id", "order_id", "id"} {
		if id, ok := ev.Data[k].(string); ok && id != "" {
			return "medication_order:" + id
		}
	}
	return ""
}
