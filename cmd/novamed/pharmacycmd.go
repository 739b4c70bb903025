package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/novamed/partner-api/internal/httpapi"
	"github.com/novamed/partner-api/internal/novamed"
)

func ordersAdvance(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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
	body := map[string]string{"to": *to}
	if *to == novamed.OrderShipped {
		body["tracking_number"], body["carrier"], body["label_url"], body["estimated_delivery"] = *tracking, *carrier, *label, *eta
	}
	return transition(ctx, c, getenv, stdout, stderr, id, "advance", body)
}

func ordersCancel(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, id, err := oneArgCommand("orders cancel", "ORDER_ID", args, getenv, nil)
	if err != nil {
		return err
	}
	return transition(ctx, c, getenv, stdout, stderr, id, "cancel", nil)
}

// ordersCancelShipment cancels a shipped order's shipment (lost, returned,
// carrier exception): the order goes back to filled, the partner is sent
// shipment:cancelled, and the audit trail records the action.
func ordersCancelShipment(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var reason *string
	c, id, err := oneArgCommand("orders cancel-shipment", "ORDER_ID", args, getenv, func(fs *flag.FlagSet) {
		reason = fs.String("reason", "", "why the shipment is cancelled (required; sent to the partner)")
	})
	if err != nil {
		return err
	}
	if _, err := novamed.CheckShipmentReason(*reason); err != nil {
		return errors.New("--reason is required: 1 to 500 characters on one line")
	}
	return adminCommand(ctx, c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var out struct {
			ID         string              `json:"id"`
			Status     string              `json:"status"`
			Event      string              `json:"event"`
			ShipmentID any                 `json:"shipment_id"`
			Shipments  []*novamed.Shipment `json:"shipments"`
		}
		if err := api.do(ctx, "POST", "/api/admin/orders/"+pathID(id)+"/cancel-shipment", map[string]string{"reason": *reason}, &out); err != nil {
			return nil, "", err
		}
		return out, fmt.Sprintf("order %s: shipment %v cancelled; the order is %s again (event %s)\n", out.ID, out.ShipmentID, out.Status, out.Event), nil
	})
}

// orderTransition is the answer of an order's advance or cancel.
type orderTransition struct {
	ID        string              `json:"id"`
	Status    string              `json:"status"`
	Event     string              `json:"event"`
	Shipment  *novamed.Shipment   `json:"shipment"`
	Shipments []*novamed.Shipment `json:"shipments"`
}

func transition(ctx context.Context, c *common, getenv func(string) string, stdout, stderr io.Writer, id, action string, body any) error {
	return adminCommand(ctx, c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var o orderTransition
		if err := api.do(ctx, "POST", "/api/admin/orders/"+pathID(id)+"/"+action, body, &o); err != nil {
			return nil, "", err
		}
		return o, fmt.Sprintf("order %s is now %s (event %s)\n", o.ID, o.Status, o.Event), nil
	})
}

func practitionersActivate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, id, err := oneArgCommand("practitioners activate", "PRACTITIONER_ID", args, getenv, nil)
	if err != nil {
		return err
	}
	return adminCommand(ctx, c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var out struct {
			ID     string `json:"id"`
			Status string `json:"status"`
			Event  string `json:"event"`
		}
		if err := api.do(ctx, "POST", "/api/admin/practitioners/"+pathID(id)+"/activate", nil, &out); err != nil {
			return nil, "", err
		}
		return out, fmt.Sprintf("practitioner %s is %s\n", out.ID, out.Status), nil
	})
}

func clinicsUpdate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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
	var u httpapi.AdminClinicUpdate
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
	return adminCommand(ctx, c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var clinic novamed.Clinic
		if err := api.do(ctx, "PATCH", "/api/admin/clinics/"+pathID(id), u, &clinic); err != nil {
			return nil, "", err
		}
		return clinic, fmt.Sprintf("clinic %s (%s): free shipping %v\n", clinic.ID, clinic.Name, clinic.FreeShipping), nil
	})
}

func carriersList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("carriers list", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	return adminCommand(ctx, &c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var out struct {
			Carriers []novamed.Carrier `json:"carriers"`
		}
		if err := api.do(ctx, "GET", "/api/admin/carriers", nil, &out); err != nil {
			return nil, "", err
		}
		var b strings.Builder
		for _, cr := range out.Carriers {
			fmt.Fprintf(&b, "%s  %s\n", cr.ID, cr.Name)
			for _, s := range cr.Services {
				fmt.Fprintf(&b, "    %-28s %-12s $%d.%02d\n", s.ID, s.Speed, s.BaseCostCents/100, s.BaseCostCents%100)
			}
		}
		return out, b.String(), nil
	})
}

// carriersImport replaces the catalogue from a JSON file shaped like
// `carriers list --json` ({"carriers": […]}).
func carriersImport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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
	// Checked here too, so a bad file is named before any request.
	carriers, err := httpapi.DecodeCarriersImport(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	return adminCommand(ctx, &c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var out struct {
			Carriers int `json:"carriers"`
		}
		if err := api.do(ctx, "PUT", "/api/admin/carriers", map[string]any{"carriers": carriers}, &out); err != nil {
			return nil, "", err
		}
		return out, fmt.Sprintf("catalogue replaced: %d carriers\n", out.Carriers), nil
	})
}

// eventsList prints a clinic's outbox events, oldest first.
func eventsList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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
	id := strings.ToLower(*clinic)
	q := url.Values{"limit": {strconv.Itoa(*limit)}}
	if *after != "" {
		q.Set("after", *after)
	}
	return adminCommand(ctx, &c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var out struct {
			Events []*novamed.Event `json:"events"`
		}
		if err := api.do(ctx, "GET", "/api/admin/clinics/"+pathID(id)+"/events?"+q.Encode(), nil, &out); err != nil {
			var e *novamed.Error
			if *after != "" && errors.As(err, &e) && e.Code == novamed.CodeInvalid {
				// The limit is checked above: the server refused --after.
				return nil, "", fmt.Errorf("--after %s: no such event of clinic %s", *after, id)
			}
			return nil, "", clinicNotFound(err, id)
		}
		var b strings.Builder
		for _, ev := range out.Events {
			fmt.Fprintf(&b, "%s  %s  %s\n", ev.ID, ev.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"), ev.Name)
		}
		return out, b.String(), nil
	})
}
