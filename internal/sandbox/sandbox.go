// Package sandbox is the development environment's stand-in for NovaMed's
// pharmacy: it activates new practitioners and walks every order through the
// lifecycle to delivered, one step per interval, so partners see every event
// without NovaMed staff. It never runs in production.
package sandbox

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
)

// Run advances the pharmacy until ctx ends. step is the time an order rests
// in each status.
func Run(ctx context.Context, store novamed.SandboxStore, step time.Duration, now func() time.Time, log *slog.Logger) {
	tick := step / 4
	if tick < 20*time.Millisecond {
		tick = 20 * time.Millisecond
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := Step(ctx, store, now().Add(-step)); err != nil && ctx.Err() == nil {
			log.Warn("sandbox step failed", "err", err)
		}
	}
}

// Step activates pending practitioners and advances each order whose last
// change is older than before by one status. An order whose shipment was
// cancelled is filled again: like any change, the cancellation restarts its
// rest, and one step later it ships again with a new shipment (a new
// shipment:created), as a pharmacy re-sends a lost parcel.
func Step(ctx context.Context, store novamed.SandboxStore, before time.Time) error {
	pending, err := store.PendingPractitioners(ctx, 100)
	if err != nil {
		return err
	}
	for _, id := range pending {
		p, _, err := store.ActivatePractitioner(ctx, id)
		if err != nil {
			return err
		}
		if err := audited(ctx, store, "practitioner.activate", "practitioner", p.ID, p.ClinicID); err != nil {
			return err
		}
	}
	orders, err := store.OrdersToAdvance(ctx, before, 100)
	if err != nil {
		return err
	}
	for _, o := range orders {
		next := novamed.NextStatus(o.Status)
		var shipment *novamed.Shipment
		if next == novamed.OrderShipped {
			shipment = SampleShipment()
		}
		// Another replica or an operator may have moved it meanwhile.
		moved, _, err := store.TransitionOrder(ctx, o.ID, next, shipment)
		if novamed.ErrorCode(err) == novamed.CodeInvalidTransition {
			continue
		}
		if err != nil {
			return err
		}
		if err := audited(ctx, store, "medication_order."+moved.Status, "medication_order", moved.ID, moved.ClinicID); err != nil {
			return err
		}
	}
	return nil
}

// Actor is how the audit trail names the sandbox (issue 22).
const Actor = "system:sandbox"

// audited records one sandbox action in the audit trail, as system:sandbox.
func audited(ctx context.Context, store novamed.SandboxStore, action, resourceType, id, clinic string) error {
	return store.AppendAudit(ctx, []*novamed.AuditRecord{{Time: time.Now().UTC(), RequestID: "sandbox_" + uuid.NewString(),
		Actor: Actor, ClinicID: clinic, Action: action, ResourceType: resourceType, ResourceIDs: []string{id}, Status: 200}})
}

// SampleShipment makes the shipment a sandbox order ships with; the store
// fills in the carrier and its tracking URL.
func SampleShipment() *novamed.Shipment {
	n, _ := rand.Int(rand.Reader, big.NewInt(1e12))
	number := fmt.Sprintf("SBX%012d", n.Int64())
	return &novamed.Shipment{
		ID: "shp_" + uuid.NewString(), TrackingNumber: number,
		LabelURL:          "https://labels.sandbox.novamed.test/" + number + ".pdf",
		EstimatedDelivery: time.Now().UTC().Add(48 * time.Hour).Format(time.DateOnly),
	}
}
