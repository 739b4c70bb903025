package client

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"time"
)

// KeyInfo describes the calling API key (never the key itself).
type KeyInfo struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Prefix      string     `json:"prefix"`      // the key's first characters, for recognising it
	Environment string     `json:"environment"` // development or production
	Clinics     []string   `json:"clinics"`     // the clinic ids the key may act for
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at"`
	RateLimit   RateLimit  `json:"rate_limit"`
}

// UnmarshalJSON reads rate_limit.reset (Unix seconds).
func (r *RateLimit) UnmarshalJSON(b []byte) error {
	var raw struct {
		Limit     int   `json:"limit"`
		Remaining int   `json:"remaining"`
		Reset     int64 `json:"reset"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	r.Limit, r.Remaining, r.Reset = raw.Limit, raw.Remaining, time.Time{}
	if raw.Reset > 0 {
		r.Reset = time.Unix(raw.Reset, 0)
	}
	return nil
}

// Me describes the calling key: its clinics, expiry and rate-limit state.
func (c *Client) Me(ctx context.Context, opts ...CallOption) (*KeyInfo, error) {
	var k KeyInfo
	if err := c.get(ctx, "/api/external/me", nil, &k, opts); err != nil {
		return nil, err
	}
	return &k, nil
}

// Usage is a key's request counts.
type Usage struct {
	KeyID  string       `json:"key_id"`
	Since  string       `json:"since"` // first day counted, YYYY-MM-DD (UTC)
	Counts []UsageCount `json:"counts"`
	// Totals are by status class ("2xx", "4xx", …) plus "rate_limited"
	// and "auth_failure_with_prefix" (failed authentications that showed
	// this key's prefix).
	Totals map[string]int64 `json:"totals"`
}

// UsageCount is the number of requests of one day, route and status class.
type UsageCount struct {
	Day         string `json:"day"`
	Route       string `json:"route"`
	StatusClass string `json:"status_class"`
	Count       int64  `json:"count"`
}

// Usage returns the calling key's request counts for the last days (1 to
// 90; 0 means 30).
func (c *Client) Usage(ctx context.Context, days int, opts ...CallOption) (*Usage, error) {
	q := url.Values{}
	if days != 0 {
		q.Set("days", strconv.Itoa(days))
	}
	var u Usage
	if err := c.get(ctx, "/api/external/me/usage", q, &u, opts); err != nil {
		return nil, err
	}
	return &u, nil
}
