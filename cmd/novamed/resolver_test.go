package main

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
)

// hostResolver is the test servers' webhook resolver: localhost is
// loopback, every other name is not found (a machine without DNS), and
// every question is recorded.
type hostResolver struct {
	mu    sync.Mutex
	hosts []string
}

func newHostResolver() *hostResolver { return &hostResolver{} }

func (r *hostResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	r.hosts = append(r.hosts, host)
	r.mu.Unlock()
	if host == "localhost" {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (r *hostResolver) asked() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.hosts)
}

// TestWebhookRegistersUnresolvedExampleHost (issue 18, item 7): the
// published pages register https://your-domain.com/webhooks; on a machine
// where that name does not resolve a production server still accepts it,
// asking only the injected resolver and only about that host, while
// literal and resolved internal addresses stay refused.
func TestWebhookRegistersUnresolvedExampleHost(t *testing.T) {
	t.Parallel()
	prod := startServer(t, "production")
	clinic := prod.newClinic("P")
	key := prod.newKey("--clinic", clinic)
	r := prod.req("POST", "/api/external/webhook", key.Key, map[string]any{"clinic_id": clinic, "webhook_url": "https://your-domain.com/webhooks"})
	expectOK(t, r)
	var w createdWebhook
	r.data(t, &w)
	prod.addSecret(w.VerificationToken, w.SigningSecret)
	if w.URL != "https://your-domain.com/webhooks" {
		t.Errorf("webhook_url = %q", w.URL)
	}
	if got := prod.resolver.asked(); !slices.Equal(got, []string{"your-domain.com"}) {
		t.Errorf("the resolver was asked about %q, want only your-domain.com", got)
	}
	for _, bad := range []string{"https://127.0.0.1/h", "https://localhost/h", "https://[::a9fe:a9fe]/h", "https://[::127.0.0.1]/h"} {
		expectError(t, prod.req("POST", "/api/external/webhook", key.Key, map[string]any{"clinic_id": clinic, "webhook_url": bad}), 400, "VALIDATION_ERROR", "")
	}
}
