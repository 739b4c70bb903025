package novamed

import (
	"context"
	"time"
)

// MaxWebhooksPerClinic bounds registrations per clinic.
const MaxWebhooksPerClinic = 10

// Webhook is a partner URL that receives a clinic's events.
type Webhook struct {
	ID        string    `json:"id"`
	ClinicID  string    `json:"clinic_id"`
	URL       string    `json:"webhook_url"`
	Secret    string    `json:"-"` // whsec_…; shown once at creation, kept sealed
	CreatedAt time.Time `json:"created_at"`
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
	URL    string
	Secret string
	Event  *Event
}

// DeliveryFilter selects deliveries.
type DeliveryFilter struct {
	Clinics   []string // nil: every clinic (operator)
	WebhookID string
	Status    string
	Limit     int
	Cursor    string
}

// WebhookStore persists webhooks and their delivery queue.
type WebhookStore interface {
	// CreateWebhook fails with CodeLimitReached past MaxWebhooksPerClinic.
	CreateWebhook(ctx context.Context, w *Webhook, eff Effects) error
	GetWebhook(ctx context.Context, id string, clinics []string) (*Webhook, error)
	ListWebhooks(ctx context.Context, f ListFilter) (items []*Webhook, next string, err error)
	DeleteWebhook(ctx context.Context, id string, clinics []string, eff Effects) error
	// SendTestEvent records a webhook:test event for one webhook only.
	SendTestEvent(ctx context.Context, webhookID string, ev *Event) (*Delivery, error)
	// ClaimDeliveries leases due deliveries to worker until now+lease; a
	// delivery leased to another live worker is never handed out.
	ClaimDeliveries(ctx context.Context, worker string, lease time.Duration, limit int) ([]*DeliveryJob, error)
	// RecordAttempt stores an attempt of a leased delivery and its new
	// status; it is ignored (false) if the lease was lost.
	RecordAttempt(ctx context.Context, deliveryID, worker string, a Attempt, status string, next *time.Time) (bool, error)
	ListDeliveries(ctx context.Context, f DeliveryFilter) (items []*Delivery, next string, err error)
	// PendingDeliveries counts deliveries waiting for an attempt.
	PendingDeliveries(ctx context.Context) (int, error)
	// RetryDelivery queues a delivery (of webhookID, unless "") for one more
	// immediate attempt.
	RetryDelivery(ctx context.Context, id, webhookID string, clinics []string) (*Delivery, error)
}
