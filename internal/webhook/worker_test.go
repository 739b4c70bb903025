package webhook

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/testenv/wait"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/sqlstore"
)

func newWorker(store novamed.WebhookStore, id string, schedule []time.Duration) *Worker {
	policy := URLPolicy{AllowInsecure: true}
	return &Worker{Store: store, Client: NewClient(&Dialer{Policy: policy}), Schedule: schedule, ID: id,
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Now: time.Now, Poll: 10 * time.Millisecond, Lease: 30 * time.Second, Parallel: 4}
}

// TestTwoWorkersShareTheQueue: two workers on one database deliver every
// event exactly once, never sending one delivery concurrently.
func TestTwoWorkersShareTheQueue(t *testing.T) {
	onBothReplicas(t, func(t *testing.T, a, b *sqlstore.Store, clinic string) {
		ctx := context.Background()
		var mu sync.Mutex
		seen := map[string]int{}
		inflight := map[string]bool{}
		var overlaps int
		rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get("webhook-id")
			mu.Lock()
			if inflight[id] {
				overlaps++
			}
			inflight[id] = true
			seen[id]++
			mu.Unlock()
			// A deliberately slow receiver: an overlap, if the worker
			// allowed one, happens while it answers.
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			inflight[id] = false
			mu.Unlock()
			w.WriteHeader(200)
		}))
		defer rc.Close()
		wh := &novamed.Webhook{ID: uuid.Must(uuid.NewV7()).String(), ClinicID: clinic, URL: rc.URL, Secrets: novamed.WebhookSecrets{SigningSecret: "whsec_dGVzdHNlY3JldA==", VerificationToken: "whvt_test"}, CreatedAt: time.Now()}
		if err := a.CreateWebhook(ctx, wh, novamed.Effects{}); err != nil {
			t.Fatal(err)
		}
		const n = 40
		for i := 0; i < n; i++ {
			ev := &novamed.Event{ID: uuid.Must(uuid.NewV7()).String(), ClinicID: clinic, Name: novamed.EventWebhookTest, Data: map[string]any{"i": i}, CreatedAt: time.Now()}
			if _, err := a.SendTestEvent(ctx, wh.ID, ev); err != nil {
				t.Fatal(err)
			}
		}
		schedule := []time.Duration{0, time.Second}
		wa, wb := newWorker(a, "worker-a", schedule), newWorker(b, "worker-b", schedule)
		var wg sync.WaitGroup
		for _, w := range []*Worker{wa, wb} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 200; i++ {
					if _, err := w.RunOnce(ctx); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					done := len(seen) == n
					mu.Unlock()
					if done {
						return
					}
				}
			}()
		}
		wg.Wait()
		if len(seen) != n || overlaps != 0 {
			t.Fatalf("%d of %d deliveries, %d concurrent duplicates", len(seen), n, overlaps)
		}
		for id, c := range seen {
			if c != 1 {
				t.Errorf("delivery %s sent %d times", id, c)
			}
		}
		ds, _, err := a.ListDeliveries(ctx, novamed.DeliveryFilter{Status: novamed.DeliverySucceeded, Limit: 100})
		if err != nil || len(ds) != n {
			t.Errorf("%d succeeded deliveries recorded (%v), want %d", len(ds), err, n)
		}
	})
}

// TestLeaseExpiryRescuesAbandonedDelivery: a worker that claims a delivery
// and dies never blocks it; after the lease another worker sends it, and the
// dead worker's late report is ignored.
func TestLeaseExpiryRescuesAbandonedDelivery(t *testing.T) {
	onBothReplicas(t, func(t *testing.T, a, b *sqlstore.Store, clinic string) {
		ctx := context.Background()
		var mu sync.Mutex
		got := 0
		rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			got++
			mu.Unlock()
			w.WriteHeader(200)
		}))
		defer rc.Close()
		wh := &novamed.Webhook{ID: uuid.Must(uuid.NewV7()).String(), ClinicID: clinic, URL: rc.URL, Secrets: novamed.WebhookSecrets{SigningSecret: "whsec_dGVzdHNlY3JldA==", VerificationToken: "whvt_test"}, CreatedAt: time.Now()}
		if err := a.CreateWebhook(ctx, wh, novamed.Effects{}); err != nil {
			t.Fatal(err)
		}
		ev := &novamed.Event{ID: uuid.Must(uuid.NewV7()).String(), ClinicID: clinic, Name: novamed.EventWebhookTest, Data: map[string]any{}, CreatedAt: time.Now()}
		d, err := a.SendTestEvent(ctx, wh.ID, ev)
		if err != nil {
			t.Fatal(err)
		}
		jobs, err := a.ClaimDeliveries(ctx, "dead-worker", 200*time.Millisecond, 10)
		if err != nil || len(jobs) != 1 {
			t.Fatalf("claim: %v %d", err, len(jobs))
		}
		// While the lease holds, nobody else gets it.
		if again, _ := b.ClaimDeliveries(ctx, "other", time.Second, 10); len(again) != 0 {
			t.Fatalf("a leased delivery was claimed twice")
		}
		// Once the 200 ms lease has run out (on the store's clock), a
		// round of another worker takes the delivery over.
		w := newWorker(b, "rescuer", []time.Duration{0})
		var n int
		if !wait.For(5*time.Second, func() bool { n, err = w.RunOnce(ctx); return err != nil || n != 0 }) || err != nil || n != 1 {
			t.Fatalf("rescue round: %d %v", n, err)
		}
		held, err := a.RecordAttempt(ctx, d.ID, "dead-worker", novamed.Attempt{At: time.Now(), StatusCode: 500}, novamed.DeliveryPending, nil)
		if err != nil || held {
			t.Errorf("the dead worker's late report was accepted: %v %v", held, err)
		}
		ds, _, _ := a.ListDeliveries(ctx, novamed.DeliveryFilter{Limit: 10})
		if got != 1 || len(ds) != 1 || ds[0].Status != novamed.DeliverySucceeded || len(ds[0].History) != 1 {
			t.Errorf("receiver got %d; delivery %+v", got, ds)
		}
	})
}

// TestDeletedWebhookIsNeverSentAgain: a delivery in flight while its
// webhook is deleted is not revived by its late attempt record, and is never
// claimed again.
func TestDeletedWebhookIsNeverSentAgain(t *testing.T) {
	onBothReplicas(t, func(t *testing.T, a, _ *sqlstore.Store, clinic string) {
		ctx := context.Background()
		wh := &novamed.Webhook{ID: uuid.Must(uuid.NewV7()).String(), ClinicID: clinic, URL: "http://127.0.0.1:9/x", Secrets: novamed.WebhookSecrets{SigningSecret: "whsec_dGVzdHNlY3JldA==", VerificationToken: "whvt_test"}, CreatedAt: time.Now()}
		if err := a.CreateWebhook(ctx, wh, novamed.Effects{}); err != nil {
			t.Fatal(err)
		}
		ev := &novamed.Event{ID: uuid.Must(uuid.NewV7()).String(), ClinicID: clinic, Name: novamed.EventWebhookTest, Data: map[string]any{}, CreatedAt: time.Now()}
		d, err := a.SendTestEvent(ctx, wh.ID, ev)
		if err != nil {
			t.Fatal(err)
		}
		jobs, err := a.ClaimDeliveries(ctx, "w1", time.Minute, 10)
		if err != nil || len(jobs) != 1 {
			t.Fatalf("claim: %v %d", err, len(jobs))
		}
		if err := a.DeleteWebhook(ctx, wh.ID, []string{clinic}, novamed.Effects{}); err != nil {
			t.Fatal(err)
		}
		next := time.Now()
		held, err := a.RecordAttempt(ctx, d.ID, "w1", novamed.Attempt{At: time.Now(), StatusCode: 500}, novamed.DeliveryPending, &next)
		if err != nil || held {
			t.Fatalf("a late attempt revived a deleted webhook's delivery: held=%v err=%v", held, err)
		}
		again, err := a.ClaimDeliveries(ctx, "w2", time.Minute, 10)
		if err != nil || len(again) != 0 {
			t.Fatalf("a deleted webhook's delivery was claimed again: %d %v", len(again), err)
		}
	})
}
