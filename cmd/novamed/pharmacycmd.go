package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
)

func ordersAdvance(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var to, tracking, carrier, label, eta *string
	c, id, err := oneArgCommand("orders advance", "ORDER_ID", args, getenv, func(fs *flag.FlagSet) {
		to = fs.String("to", "", "target status: verified, submitted, acknowledged, filled, shipped, delivered")
		tracking = fs.String("tracking-number", "", "tracking number (required for shipped)")
		carrier = fs.String("carrier", "", "shipping provider (default: the order's carrier)")
		label = fs.String("label-url", "", "shipping label URL")
		eta = fs.String("estimated-delivery", "", "estimated delivery date (YYYY-MM-DD)")
	})
	if err != nil {
		return err
	}
	if *to == "" {
		return errors.New("--to is required")
	}
	var shipment *novamed.Shipment
	if *to == novamed.OrderShipped {
		shipment = &novamed.Shipment{TrackingNumber: strings.TrimSpace(*tracking), Provider: strings.TrimSpace(*carrier),
			LabelURL: *label, EstimatedDelivery: *eta}
	}
	return transition(ctx, c, getenv, stdout, id, *to, shipment)
}

func ordersCancel(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c, id, err := oneArgCommand("orders cancel", "ORDER_ID", args, getenv, nil)
	if err != nil {
		return err
	}
	return transition(ctx, c, getenv, stdout, id, novamed.OrderCancelled, nil)
}

// ordersCancelShipment cancels a shipped order's shipment (lost, returned,
// carrier exception): the order goes back to filled, the partner is sent
// shipment:cancelled, and the audit trail records the action.
func ordersCancelShipment(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var reason *string
	c, id, err := oneArgCommand("orders cancel-shipment", "ORDER_ID", args, getenv, func(fs *flag.FlagSet) {
		reason = fs.String("reason", "", "why the shipment is cancelled (required; sent to the partner)")
	})
	if err != nil {
		return err
	}
	r, err := novamed.CheckShipmentReason(*reason)
	if err != nil {
		return errors.New("--reason is required: 1 to 500 characters on one line")
	}
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	rec := &novamed.AuditRecord{Time: time.Now().UTC(), RequestID: "cli_" + uuid.NewString(), Action: "medication_order.cancel_shipment",
		ResourceType: "medication_order", ResourceIDs: []string{strings.ToLower(id)}, UserAgent: "novamed orders cancel-shipment", Status: 200}
	o, ev, err := store.CancelShipment(ctx, strings.ToLower(id), r, novamed.Effects{Audit: rec})
	if err != nil {
		return err
	}
	out := map[string]any{"id": o.ID, "status": o.Status, "event": ev.Name, "shipment_id": ev.Data["shipment_id"], "shipments": o.Shipments}
	return emit(stdout, c.json, out, fmt.Sprintf("order %s: shipment %s cancelled; the order is %s again (event %s)\n",
		o.ID, ev.Data["shipment_id"], o.Status, ev.Name))
}

func transition(ctx context.Context, c *common, getenv func(string) string, stdout io.Writer, id, to string, shipment *novamed.Shipment) error {
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	o, ev, err := store.TransitionOrder(ctx, id, to, shipment)
	if err != nil {
		return err
	}
	out := map[string]any{"id": o.ID, "status": o.Status, "event": ev.Name, "shipment": o.Shipment, "shipments": o.Shipments}
	return emit(stdout, c.json, out, fmt.Sprintf("order %s is now %s (event %s)\n", o.ID, o.Status, ev.Name))
}

func practitionersActivate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c, id, err := oneArgCommand("practitioners activate", "PRACTITIONER_ID", args, getenv, nil)
	if err != nil {
		return err
	}
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	p, ev, err := store.ActivatePractitioner(ctx, id)
	if err != nil {
		return err
	}
	event := ""
	if ev != nil {
		event = ev.Name
	}
	return emit(stdout, c.json, map[string]any{"id": p.ID, "status": p.Status, "event": event},
		fmt.Sprintf("practitioner %s is %s\n", p.ID, p.Status))
}

func clinicsUpdate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var free, name *string
	c, id, err := oneArgCommand("clinics update", "CLINIC_ID", args, getenv, func(fs *flag.FlagSet) {
		free = fs.String("free-shipping", "", "true or false: clinic-specific free shipping")
		name = fs.String("name", "", "a new name")
	})
	if err != nil {
		return err
	}
	if *free == "" && *name == "" {
		return errors.New("nothing to update: give --free-shipping true|false or --name")
	}
	var u onboarding.ClinicUpdate
	if *free != "" {
		on, err := strconv.ParseBool(*free)
		if err != nil {
			return fmt.Errorf("--free-shipping must be true or false")
		}
		u.FreeShipping = &on
	}
	if *name != "" {
		u.Name = name
	}
	store, env, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	clinic, err := onboarding.UpdateClinic(ctx, store, deps(env), localActor(getenv, "novamed clinics update"), id, u)
	if err != nil {
		return err
	}
	return emit(stdout, c.json, clinic, fmt.Sprintf("clinic %s (%s): free shipping %v\n", clinic.ID, clinic.Name, clinic.FreeShipping))
}

func carriersList(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("carriers list", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	cs, err := store.ListCarriers(ctx)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, cr := range cs {
		fmt.Fprintf(&b, "%s  %s\n", cr.ID, cr.Name)
		for _, s := range cr.Services {
			fmt.Fprintf(&b, "    %-28s %-12s $%d.%02d\n", s.ID, s.Speed, s.BaseCostCents/100, s.BaseCostCents%100)
		}
	}
	return emit(stdout, c.json, map[string]any{"carriers": cs}, b.String())
}

// carriersImport replaces the catalogue from a JSON file shaped like
// `carriers list --json` ({"carriers": […]}).
func carriersImport(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("carriers import", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	file := fs.String("file", "", "JSON file with {\"carriers\": [...]}")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *file == "" {
		return errors.New("--file is required")
	}
	raw, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	var doc struct {
		Carriers []novamed.Carrier `json:"carriers"`
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.ReplaceCarriers(ctx, doc.Carriers, false); err != nil {
		return err
	}
	return emit(stdout, c.json, map[string]any{"carriers": len(doc.Carriers)}, fmt.Sprintf("catalogue replaced: %d carriers\n", len(doc.Carriers)))
}

// eventsList prints a clinic's outbox events, oldest first.
func eventsList(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("events list", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	clinic := fs.String("clinic", "", "clinic id (required)")
	after := fs.String("after", "", "only events after this event id")
	limit := fs.Int("limit", 100, "at most this many (1–1000)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if !novamed.IsUUID(*clinic) {
		return errors.New("--clinic CLINIC_ID is required")
	}
	if *limit < 1 || *limit > 1000 {
		return errors.New("--limit must be from 1 to 1000")
	}
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := mustExist(ctx, store, "--clinic", "clinic", strings.ToLower(*clinic), ""); err != nil {
		return err
	}
	if *after != "" {
		if err := mustExist(ctx, store, "--after", "event", *after, strings.ToLower(*clinic)); err != nil {
			return err
		}
	}
	evs, err := store.ListEvents(ctx, strings.ToLower(*clinic), *after, *limit)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "%s  %s  %s\n", ev.ID, ev.CreatedAt.Format("2006-01-02T15:04:05Z"), ev.Name)
	}
	return emit(stdout, c.json, map[string]any{"events": evs}, b.String())
}
