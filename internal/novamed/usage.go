package novamed

import (
	"context"
	"time"
)

// UsageCount is a number of requests of one key on one day for one route
// and status class ("2xx", "4xx", …). Pseudo-routes count other things:
// RouteRateLimited and RouteAuthFailure.
type UsageCount struct {
	KeyID       string `json:"key_id"`
	Day         string `json:"day"` // YYYY-MM-DD, UTC
	Route       string `json:"route"`
	StatusClass string `json:"status_class"`
	Count       int64  `json:"count"`
}

// Pseudo-routes of usage counts.
const (
	RouteRateLimited = "rate_limited"
	RouteAuthFailure = "auth_failure_with_prefix"
)

// KeyActivity is a key's latest use.
type KeyActivity struct {
	KeyID      string
	LastUsedAt time.Time
	LastClient string
}

// SecurityEvent is an anomaly worth an operator's attention. Detail names
// what was seen; it never holds a key or PHI.
type SecurityEvent struct {
	ID         string         `json:"id"`
	At         time.Time      `json:"at"`
	Rule       string         `json:"rule"`
	KeyID      string         `json:"key_id,omitempty"`
	ClientAddr string         `json:"client_addr,omitempty"`
	Detail     map[string]any `json:"detail"`
	// AcknowledgedAt is when an operator acknowledged the event (nil:
	// open); AcknowledgedBy who (operator:<id>).
	AcknowledgedAt *time.Time `json:"acknowledged_at"`
	AcknowledgedBy string     `json:"acknowledged_by,omitempty"`
}

// SecurityEventFilter selects security events, newest first.
type SecurityEventFilter struct {
	Since time.Time
	// Rule and KeyID match exactly when set.
	Rule, KeyID string
	// State is "open", "acknowledged" or "" (both).
	State string
	// Limit is at most how many are returned; Before (an event id) pages
	// on from the event of that id (exclusive).
	Limit  int
	Before string
}

// Security event rules.
const (
	RuleNewNetwork     = "new_client_network"
	RuleRateSpike      = "rate_above_baseline"
	RulePrefixFailures = "auth_failures_with_real_prefix"
	RuleRolledKeyUse   = "rolled_key_used_after_successor"
	RuleRevokedKeyUse  = "revoked_key_used"
)

// UsageSink is what the usage recorder writes and reads back: counters,
// key networks and security events.
type UsageSink interface {
	// AddUsage adds counts (upserting) and records last activity, in one transaction.
	AddUsage(ctx context.Context, counts []UsageCount, activity []KeyActivity) error
	// KeyNetworks returns the client networks a key has been used from.
	KeyNetworks(ctx context.Context, keyID string) ([]string, error)
	// AddKeyNetwork remembers a network (no error if already known).
	AddKeyNetwork(ctx context.Context, keyID, network string, at time.Time) error
	// KeyPrefixes maps display prefixes of usable keys to key ids.
	KeyPrefixes(ctx context.Context) (map[string]string, error)
	// RecordSecurityEvent stores an event with its audit record.
	RecordSecurityEvent(ctx context.Context, ev *SecurityEvent, rec *AuditRecord) error
}

// UsageStore persists usage counters, key networks and security events.
type UsageStore interface {
	UsageSink
	// Usage returns a key's counts for days on or after since (YYYY-MM-DD).
	Usage(ctx context.Context, keyID, since string) ([]UsageCount, error)
	ListSecurityEvents(ctx context.Context, since time.Time, limit int) ([]*SecurityEvent, error)
}
