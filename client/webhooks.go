package client

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"net/url"
	"time"
)

// Webhook is a URL that receives a clinic's events.
type Webhook struct {
	ID         string    `json:"id"`
	ClinicID   string    `json:"clinic_id"`
	WebhookURL string    `json:"webhook_url"`
	CreatedAt  time.Time `json:"created_at"`
	// VerificationToken is the x-api-key header of every delivery (compare
	// it with webhook.VerifyToken). Only Create and Rotate return it, once.
	VerificationToken string `json:"verification_token,omitempty"`
	// SigningSecret ("whsec_…") keys the webhook-signature of deliveries
	// and is never sent; verify deliveries with package client/webhook.
	// Only Create and Rotate return it, once.
	SigningSecret string `json:"signing_secret,omitempty"`
	// OverlapUntil, in Rotate's answer, is when deliveries stop carrying
	// the old token and the old signature (nil: the new secrets serve at
	// once).
	OverlapUntil *time.Time `json:"overlap_until,omitempty"`
}

// RotateWebhookRequest is the body of WebhooksService.Rotate.
type RotateWebhookRequest struct {
	// Overlap is how long deliveries keep the old token and also sign with
	// the old secret: 0 switches at once, at most 168 hours. Nil means the
	// server's default, 24 hours.
	Overlap *time.Duration `json:"-"`
}

// MarshalJSON writes the overlap as the server reads it ("24h0m0s").
func (r RotateWebhookRequest) MarshalJSON() ([]byte, error) {
	if r.Overlap == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(map[string]string{"overlap": r.Overlap.String()})
}

// CreateWebhookRequest registers a webhook (at most 10 per clinic).
type CreateWebhookRequest struct {
	ClinicID string `json:"clinic_id"`
	// WebhookURL must be https:// and public in production; development also
	// allows http:// and private or loopback addresses.
	WebhookURL string `json:"webhook_url"`
}

// WebhookDeleted is the answer to a delete.
type WebhookDeleted struct {
	WebhookID string `json:"webhook_id"`
	Deleted   bool   `json:"deleted"`
}

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliverySucceeded = "succeeded"
	DeliveryFailed    = "failed"
)

// Delivery is one event on its way to one webhook; ID is the webhook-id
// header of every attempt.
type Delivery struct {
	ID            string            `json:"id"`
	WebhookID     string            `json:"webhook_id"`
	EventID       string            `json:"event_id"`
	EventName     string            `json:"event_name"`
	ClinicID      string            `json:"clinic_id"`
	Status        string            `json:"status"`
	AttemptCount  int               `json:"attempt_count"`
	NextAttemptAt *time.Time        `json:"next_attempt_at"`
	CreatedAt     time.Time         `json:"created_at"`
	UpdatedAt     time.Time         `json:"updated_at"`
	Attempts      []DeliveryAttempt `json:"attempts"`
}

// DeliveryAttempt is one try at delivering.
type DeliveryAttempt struct {
	Attempt    int       `json:"attempt"`
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code,omitempty"` // the receiver's answer; 0 if none
	LatencyMS  int64     `json:"latency_ms"`
	Error      string    `json:"error,omitempty"`
}

// DeliveryListParams selects deliveries of a webhook.
type DeliveryListParams struct {
	Limit  int
	Cursor string
	// Status keeps DeliveryPending, DeliverySucceeded or DeliveryFailed ones.
	Status string
}

// WebhookTest is the answer to WebhooksService.Test: the queued delivery.
type WebhookTest struct {
	DeliveryID string `json:"delivery_id"`
	EventID    string `json:"event_id"`
	EventName  string `json:"event_name"` // "webhook:test"
}

// WebhooksService is /api/external/webhook.
type WebhooksService struct{ c *Client }

const webhookPath = "/api/external/webhook"

// Create registers a webhook; the answer's VerificationToken and
// SigningSecret are shown only now.
func (s *WebhooksService) Create(ctx context.Context, req *CreateWebhookRequest, opts ...CallOption) (*Webhook, error) {
	var w Webhook
	if err := s.c.call(ctx, call{method: http.MethodPost, path: webhookPath, body: req}, &w, opts); err != nil {
		return nil, err
	}
	return &w, nil
}

// Get returns one webhook (without its secrets).
func (s *WebhooksService) Get(ctx context.Context, id string, opts ...CallOption) (*Webhook, error) {
	var w Webhook
	if err := s.c.get(ctx, webhookPath+"/"+pathEscape(id), nil, &w, opts); err != nil {
		return nil, err
	}
	return &w, nil
}

// List ranges over webhooks, newest first, fetching pages as needed.
func (s *WebhooksService) List(ctx context.Context, p ListParams, opts ...CallOption) iter.Seq2[*Webhook, error] {
	return paginate[Webhook](ctx, s.c, webhookPath, p.values(), opts)
}

// ListPage fetches one page of webhooks.
func (s *WebhooksService) ListPage(ctx context.Context, p ListParams, opts ...CallOption) (*Page[Webhook], error) {
	return listPage[Webhook](ctx, s.c, webhookPath, p.values(), opts)
}

// Delete removes a webhook; its pending deliveries are no longer sent.
func (s *WebhooksService) Delete(ctx context.Context, id string, opts ...CallOption) (*WebhookDeleted, error) {
	var d WebhookDeleted
	if err := s.c.call(ctx, call{method: http.MethodDelete, path: webhookPath + "/" + pathEscape(id)}, &d, opts); err != nil {
		return nil, err
	}
	return &d, nil
}

func (p DeliveryListParams) values() url.Values {
	q := ListParams{Limit: p.Limit, Cursor: p.Cursor}.values()
	if p.Status != "" {
		q.Set("status", p.Status)
	}
	return q
}

// Deliveries ranges over a webhook's deliveries with every attempt, newest
// first.
func (s *WebhooksService) Deliveries(ctx context.Context, webhookID string, p DeliveryListParams, opts ...CallOption) iter.Seq2[*Delivery, error] {
	return paginate[Delivery](ctx, s.c, webhookPath+"/"+pathEscape(webhookID)+"/deliveries", p.values(), opts)
}

// DeliveriesPage fetches one page of a webhook's deliveries.
func (s *WebhooksService) DeliveriesPage(ctx context.Context, webhookID string, p DeliveryListParams, opts ...CallOption) (*Page[Delivery], error) {
	return listPage[Delivery](ctx, s.c, webhookPath+"/"+pathEscape(webhookID)+"/deliveries", p.values(), opts)
}

// RetryDelivery queues one more immediate attempt of a delivery.
func (s *WebhooksService) RetryDelivery(ctx context.Context, webhookID, deliveryID string, opts ...CallOption) (*Delivery, error) {
	var d Delivery
	path := webhookPath + "/" + pathEscape(webhookID) + "/deliveries/" + pathEscape(deliveryID) + "/retry"
	if err := s.c.call(ctx, call{method: http.MethodPost, path: path}, &d, opts); err != nil {
		return nil, err
	}
	return &d, nil
}

// Rotate issues a new verification token and signing secret (in the
// answer, once). During req.Overlap deliveries carry the old token and are
// signed with both secrets, so receivers can switch at any moment of it.
func (s *WebhooksService) Rotate(ctx context.Context, webhookID string, req *RotateWebhookRequest, opts ...CallOption) (*Webhook, error) {
	if req == nil {
		req = &RotateWebhookRequest{}
	}
	var w Webhook
	if err := s.c.call(ctx, call{method: http.MethodPost, path: webhookPath + "/" + pathEscape(webhookID) + "/rotate", body: req}, &w, opts); err != nil {
		return nil, err
	}
	return &w, nil
}

// Test queues a "webhook:test" event for this webhook only.
func (s *WebhooksService) Test(ctx context.Context, webhookID string, opts ...CallOption) (*WebhookTest, error) {
	var t WebhookTest
	if err := s.c.call(ctx, call{method: http.MethodPost, path: webhookPath + "/" + pathEscape(webhookID) + "/test"}, &t, opts); err != nil {
		return nil, err
	}
	return &t, nil
}
