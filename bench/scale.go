package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// seedScale grows the API's database (the server stopped) by n patients,
// n medication orders and an audit trail of matching size (each create's
// own record, plus one read record per patient), in bulk through the store
// in this process — never over HTTP. The patients and orders are copies of
// the ones prepare made over HTTP, with new ids and names.
func (b *bench) seedScale(dataDir string, n int) error {
	ctx := context.Background()
	keys, err := phi.LoadKeyringFile(filepath.Join(dataDir, "master.key"))
	if err != nil {
		return err
	}
	ring, err := phi.NewKeyring(keys)
	if err != nil {
		return err
	}
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(dataDir, "novamed.db"), sqlstore.Options{Keyring: ring})
	if err != nil {
		return err
	}
	defer store.Close()
	clinics := []string{clinic}
	tp, err := store.GetPatient(ctx, b.patientIDs[0], clinics)
	if err != nil {
		return fmt.Errorf("template patient: %w", err)
	}
	to, err := store.GetMedicationOrder(ctx, b.orderID, clinics)
	if err != nil {
		return fmt.Errorf("template order: %w", err)
	}
	rec := func(action, typ, id string) *novamed.AuditRecord {
		return &novamed.AuditRecord{Time: time.Now(), RequestID: "seed-" + uuid.NewString(), ClinicID: clinic, Action: action,
			ResourceType: typ, ResourceIDs: []string{id}, ClientAddr: "127.0.0.1", Status: 200}
	}
	start := time.Now()
	var next, done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				p := *tp
				p.ID, p.FirstName, p.CreatedAt = uuid.NewString(), fmt.Sprintf("Scale%d", i), time.Now()
				if err := store.CreatePatient(ctx, &p, novamed.Effects{Audit: rec("patient.create", "patient", p.ID)}); err != nil {
					errs <- fmt.Errorf("seed patient %d: %w", i, err)
					return
				}
				o := *to
				o.ID, o.PatientID, o.Shipment, o.Shipments = uuid.NewString(), p.ID, nil, nil
				o.CreatedAt, o.UpdatedAt = time.Now(), time.Now()
				o.Items = nil
				for _, it := range to.Items {
					c := *it
					c.ID, c.OrderID = uuid.NewString(), o.ID
					c.RootID = c.ID
					o.Items = append(o.Items, &c)
				}
				if err := store.CreateMedicationOrder(ctx, &o, novamed.Effects{Audit: rec("medication_order.create", "medication_order", o.ID)}); err != nil {
					errs <- fmt.Errorf("seed order %d: %w", i, err)
					return
				}
				if d := done.Add(1); d%int64(max(n/10, 1)) == 0 {
					fmt.Fprintf(os.Stderr, "seeded %d of %d patients and orders (%v)\n", d, n, time.Since(start).Round(time.Second))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	// The reads' share of the trail, in batches as the audit writer makes them.
	for i := 0; i < n; i += 512 {
		batch := make([]*novamed.AuditRecord, 0, 512)
		for j := i; j < min(i+512, n); j++ {
			batch = append(batch, rec("patient.read", "patient", b.patientIDs[j%len(b.patientIDs)]))
		}
		if err := store.AppendAudit(ctx, batch); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "seeded %d patients, %d orders and %d audit records in %v\n", n, n, 3*n, time.Since(start).Round(time.Millisecond))
	return nil
}

// timeCommand runs a novamed command and says how long it took.
func timeCommand(bin string, args ...string) (time.Duration, error) {
	t0 := time.Now()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%v: %v\n%s", args, err, out)
	}
	return time.Since(t0), nil
}
