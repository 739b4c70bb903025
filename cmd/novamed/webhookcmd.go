package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/novamed/partner-api/internal/novamed"
)

// allClinics lists every clinic id: operator commands act across clinics.
func allClinics(ctx context.Context, store novamed.Store) ([]string, error) {
	cs, err := store.ListClinics(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids, nil
}

func webhooksDeliveries(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
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
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	ds, _, err := store.ListDeliveries(ctx, novamed.DeliveryFilter{WebhookID: strings.ToLower(*webhookID), Status: *status, Limit: *limit})
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, d := range ds {
		last := ""
		if n := len(d.History); n > 0 {
			last = fmt.Sprintf("last: %d %s", d.History[n-1].StatusCode, d.History[n-1].Error)
		}
		fmt.Fprintf(&b, "%s  %-9s  %-30s  attempts %d  %s\n", d.ID, d.Status, d.EventName, d.Attempts, last)
	}
	return emit(stdout, c.json, map[string]any{"deliveries": ds}, b.String())
}

func webhooksRetry(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c, id, err := oneArgCommand("webhooks retry", "DELIVERY_ID", args, getenv, nil)
	if err != nil {
		return err
	}
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	clinics, err := allClinics(ctx, store)
	if err != nil {
		return err
	}
	d, err := store.RetryDelivery(ctx, strings.ToLower(id), "", clinics)
	if err != nil {
		return err
	}
	return emit(stdout, c.json, d, fmt.Sprintf("delivery %s queued for another attempt\n", d.ID))
}
