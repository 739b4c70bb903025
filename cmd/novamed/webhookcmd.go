package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/httpapi"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/webhook"
)

func webhooksDeliveries(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("webhooks deliveries", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	webhookID := fs.String("webhook", "", "only this webhook's deliveries")
	status := fs.String("status", "", "pending, succeeded or failed")
	limit := fs.Int("limit", 100, "at most this many (1–1000)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	switch *status {
	case "", novamed.DeliveryPending, novamed.DeliverySucceeded, novamed.DeliveryFailed:
	default:
		return errors.New("--status must be pending, succeeded or failed")
	}
	if *limit < 1 || *limit > 1000 {
		return errors.New("--limit must be from 1 to 1000")
	}
	q := url.Values{"limit": {strconv.Itoa(*limit)}}
	if *webhookID != "" {
		q.Set("webhook", strings.ToLower(*webhookID))
	}
	if *status != "" {
		q.Set("status", *status)
	}
	return adminCommand(ctx, &c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var out struct {
			Deliveries []*novamed.Delivery `json:"deliveries"`
		}
		if err := api.do(ctx, "GET", "/api/admin/webhook-deliveries?"+q.Encode(), nil, &out); err != nil {
			return nil, "", unknownID(err, "--webhook", "webhook", *webhookID)
		}
		var b strings.Builder
		for _, d := range out.Deliveries {
			last := ""
			if n := len(d.History); n > 0 {
				last = fmt.Sprintf("last: %d %s", d.History[n-1].StatusCode, d.History[n-1].Error)
			}
			fmt.Fprintf(&b, "%s  %-9s  %-30s  attempts %d  %s\n", d.ID, d.Status, d.EventName, d.Attempts, last)
		}
		return out, b.String(), nil
	})
}

func webhooksRetry(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, id, err := oneArgCommand("webhooks retry", "DELIVERY_ID", args, getenv, nil)
	if err != nil {
		return err
	}
	return adminCommand(ctx, c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var d novamed.Delivery
		if err := api.do(ctx, "POST", "/api/admin/webhook-deliveries/"+pathID(id)+"/retry", nil, &d); err != nil {
			return nil, "", err
		}
		return d, fmt.Sprintf("delivery %s queued for another attempt\n", d.ID), nil
	})
}

// webhookRotation is what `webhooks rotate` prints: the new secrets, once
// (the admin API's answer too).
type webhookRotation = httpapi.AdminWebhookRotation

func webhooksRotate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var overlap *time.Duration
	c, id, err := oneArgCommand("webhooks rotate", "WEBHOOK_ID", args, getenv, func(fs *flag.FlagSet) {
		overlap = fs.Duration("overlap", novamed.DefaultWebhookOverlap, "how long deliveries keep the old token and also sign with the old secret (0s to 168h)")
	})
	if err != nil {
		return err
	}
	if *overlap < 0 || *overlap > novamed.MaxWebhookOverlap {
		return errors.New("--overlap must be from 0s to 168h")
	}
	return adminCommand(ctx, c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var out webhookRotation
		if err := api.do(ctx, "POST", "/api/admin/webhooks/"+pathID(id)+"/rotate", map[string]string{"overlap": overlap.String()}, &out); err != nil {
			return nil, "", err
		}
		text := fmt.Sprintf("webhook %s: new secrets (shown only now)\n  verification_token  %s\n  signing_secret      %s\n",
			out.WebhookID, out.VerificationToken, out.SigningSecret)
		if out.OverlapUntil != nil {
			text += fmt.Sprintf("  until %s deliveries carry the old token and are signed with the old and the new secret\n", out.OverlapUntil.UTC().Format(time.RFC3339))
		} else {
			text += "  deliveries use the new secrets from now on\n"
		}
		return out, text, nil
	})
}

// webhookResolverKey marks, in run's context, the resolver that webhook
// hosts are looked up with at registration and at every delivery; tests
// put a stub there so that no example host ever reaches real DNS.
type webhookResolverKey struct{}

// withWebhookResolver returns ctx carrying r for serve's webhook policy.
func withWebhookResolver(ctx context.Context, r webhook.Resolver) context.Context {
	return context.WithValue(ctx, webhookResolverKey{}, r)
}

// webhookResolver is the resolver ctx carries, or the system's.
func webhookResolver(ctx context.Context) webhook.Resolver {
	if r, ok := ctx.Value(webhookResolverKey{}).(webhook.Resolver); ok && r != nil {
		return r
	}
	return net.DefaultResolver
}
