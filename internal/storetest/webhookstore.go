package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// storedWebhook is the form GetWebhook returns w in.
func storedWebhook(w *novamed.Webhook) *novamed.Webhook {
	s := *w
	s.CreatedAt = norm(w.CreatedAt)
	return &s
}

// testEvent sends a webhook:test event to w alone.
func (f *fixture) testEvent(w *novamed.Webhook) *novamed.Delivery {
	f.t.Helper()
	d, err := f.s.SendTestEvent(f.ctx, w.ID, &novamed.Event{ID: newV7(f.t), ClinicID: w.ClinicID, Name: novamed.EventWebhookTest,
		Data: map[string]any{"webhook_id": w.ID}, CreatedAt: f.tick()})
	must(f.t, "SendTestEvent", err)
	return d
}

// testWebhooks: registration, scoping, paging, the per-clinic limit and
// deletion of webhooks.
func testWebhooks(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	t.Run("RoundTripAndScope", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b := f.clinic("A"), f.clinic("B")
		w := f.webhook(a.ID)
		got, err := f.s.GetWebhook(f.ctx, w.ID, []string{b.ID, a.ID})
		must(t, "GetWebhook", err)
		equal(t, "GetWebhook", got, storedWebhook(w))
		_, err = f.s.GetWebhook(f.ctx, w.ID, []string{b.ID})
		wantCode(t, "GetWebhook of another clinic", err, novamed.CodeNotFound)
		_, err = f.s.GetWebhook(f.ctx, w.ID, nil)
		wantCode(t, "GetWebhook with no clinics", err, novamed.CodeNotFound)
		_, err = f.s.GetWebhook(f.ctx, newV7(t), []string{a.ID})
		wantCode(t, "GetWebhook unknown", err, novamed.CodeNotFound)
	})

	t.Run("ListPagesNewestFirst", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b := f.clinic("A"), f.clinic("B")
		var want []string
		for range 5 {
			want = append(want, f.webhook(a.ID).ID)
		}
		other := f.webhook(b.ID)
		slices.Reverse(want)
		var got []string
		cursor, pages := "", 0
		for {
			items, next, err := f.s.ListWebhooks(f.ctx, novamed.ListFilter{Clinics: []string{a.ID}, Limit: 2, Cursor: cursor})
			must(t, "ListWebhooks", err)
			pages++
			for _, w := range items {
				got = append(got, w.ID)
			}
			if next == "" {
				break
			}
			if pages > 5 {
				t.Fatal("ListWebhooks does not end")
			}
			cursor = next
		}
		equal(t, "ListWebhooks of A, paged by 2", got, want)
		if pages != 3 {
			t.Errorf("ListWebhooks: %d pages of 2 for 5 webhooks, want 3", pages)
		}
		items, _, err := f.s.ListWebhooks(f.ctx, novamed.ListFilter{Clinics: []string{b.ID}, Limit: 10})
		must(t, "ListWebhooks B", err)
		if len(items) != 1 || items[0].ID != other.ID {
			t.Errorf("ListWebhooks of B: %d items, want only %s", len(items), other.ID)
		}
	})

	t.Run("LimitPerClinic", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b := f.clinic("A"), f.clinic("B")
		var ws []*novamed.Webhook
		for range novamed.MaxWebhooksPerClinic {
			ws = append(ws, f.webhook(a.ID))
		}
		extra := &novamed.Webhook{ID: newV7(t), ClinicID: a.ID, URL: "https://hooks.example.test/extra",
			Secrets: novamed.NewWebhookSecrets(), CreatedAt: f.tick()}
		wantCode(t, "CreateWebhook past the limit", f.s.CreateWebhook(f.ctx, extra, novamed.Effects{}), novamed.CodeLimitReached)
		f.webhook(b.ID) // another clinic has its own limit
		must(t, "DeleteWebhook", f.s.DeleteWebhook(f.ctx, ws[0].ID, []string{a.ID}, novamed.Effects{}))
		must(t, "CreateWebhook after a delete", f.s.CreateWebhook(f.ctx, extra, novamed.Effects{}))
	})

	t.Run("Delete", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b := f.clinic("A"), f.clinic("B")
		w, keep := f.webhook(a.ID), f.webhook(a.ID)
		d := f.testEvent(w)
		wantCode(t, "DeleteWebhook from another clinic", f.s.DeleteWebhook(f.ctx, w.ID, []string{b.ID}, novamed.Effects{}), novamed.CodeNotFound)
		wantCode(t, "DeleteWebhook with no clinics", f.s.DeleteWebhook(f.ctx, w.ID, nil, novamed.Effects{}), novamed.CodeNotFound)
		must(t, "DeleteWebhook", f.s.DeleteWebhook(f.ctx, w.ID, []string{a.ID}, novamed.Effects{}))
		wantCode(t, "DeleteWebhook again", f.s.DeleteWebhook(f.ctx, w.ID, []string{a.ID}, novamed.Effects{}), novamed.CodeNotFound)
		_, err := f.s.GetWebhook(f.ctx, w.ID, []string{a.ID})
		wantCode(t, "GetWebhook of a deleted webhook", err, novamed.CodeNotFound)
		items, _, err := f.s.ListWebhooks(f.ctx, novamed.ListFilter{Clinics: []string{a.ID}, Limit: 10})
		must(t, "ListWebhooks", err)
		if len(items) != 1 || items[0].ID != keep.ID {
			t.Errorf("ListWebhooks after a delete: %d items, want only %s", len(items), keep.ID)
		}
		// Its pending delivery failed and is never claimed.
		ds, _, err := f.s.ListDeliveries(f.ctx, novamed.DeliveryFilter{WebhookID: w.ID, Limit: 10})
		must(t, "ListDeliveries", err)
		if len(ds) != 1 || ds[0].ID != d.ID || ds[0].Status != novamed.DeliveryFailed || ds[0].NextAttemptAt != nil {
			t.Errorf("the deleted webhook's delivery: %+v, want %s failed with no next attempt", ds, d.ID)
		}
		_, err = f.s.SendTestEvent(f.ctx, w.ID, &novamed.Event{ID: newV7(t), ClinicID: a.ID, Name: novamed.EventWebhookTest,
			Data: map[string]any{}, CreatedAt: f.tick()})
		wantCode(t, "SendTestEvent to a deleted webhook", err, novamed.CodeNotFound)
		jobs, err := f.s.ClaimDeliveries(f.ctx, "w", time.Minute, 10)
		must(t, "ClaimDeliveries", err)
		if len(jobs) != 0 {
			t.Errorf("ClaimDeliveries after the delete: %d jobs, want none", len(jobs))
		}
	})
}

// testDeliveries: the delivery queue — test events, leases, attempts, the
// delivery log and manual retries.
func testDeliveries(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	f := newFixture(t, newStore)
	a, b := f.clinic("A"), f.clinic("B")
	w, other := f.webhook(a.ID), f.webhook(a.ID)
	d := f.testEvent(w)
	if d.WebhookID != w.ID || d.ClinicID != a.ID || d.EventName != novamed.EventWebhookTest || d.Status != novamed.DeliveryPending ||
		d.Attempts != 0 || d.NextAttemptAt == nil {
		t.Fatalf("SendTestEvent: %+v, want a pending delivery to %s, due", d, w.ID)
	}
	pending, err := f.s.PendingDeliveries(f.ctx)
	must(t, "PendingDeliveries", err)
	if pending != 1 {
		t.Errorf("PendingDeliveries = %d, want 1 (a test event goes to its webhook only)", pending)
	}

	// The log, scoped by clinic and filtered by webhook and status.
	list := func(what string, flt novamed.DeliveryFilter) []string {
		t.Helper()
		flt.Limit = 10
		ds, _, err := f.s.ListDeliveries(f.ctx, flt)
		must(t, what, err)
		var ids []string
		for _, d := range ds {
			ids = append(ids, d.ID)
		}
		return ids
	}
	equal(t, "ListDeliveries of A", list("ListDeliveries", novamed.DeliveryFilter{Clinics: []string{a.ID}}), []string{d.ID})
	equal(t, "ListDeliveries of every clinic", list("ListDeliveries", novamed.DeliveryFilter{}), []string{d.ID})
	equal(t, "ListDeliveries of B", list("ListDeliveries", novamed.DeliveryFilter{Clinics: []string{b.ID}}), []string(nil))
	equal(t, "ListDeliveries of no clinic", list("ListDeliveries", novamed.DeliveryFilter{Clinics: []string{}}), []string(nil))
	equal(t, "ListDeliveries of the other webhook", list("ListDeliveries", novamed.DeliveryFilter{WebhookID: other.ID}), []string(nil))
	equal(t, "ListDeliveries failed", list("ListDeliveries", novamed.DeliveryFilter{Status: novamed.DeliveryFailed}), []string(nil))

	// A lease: one worker holds it; another neither claims it nor records.
	jobs, err := f.s.ClaimDeliveries(f.ctx, "worker-a", time.Minute, 10)
	must(t, "ClaimDeliveries", err)
	if len(jobs) != 1 || jobs[0].ID != d.ID {
		t.Fatalf("ClaimDeliveries: %d jobs, want delivery %s", len(jobs), d.ID)
	}
	j := jobs[0]
	if j.URL != w.URL || !equal(t, "the job's secrets", j.Secrets, w.Secrets) || j.Event == nil || j.Event.Name != novamed.EventWebhookTest {
		t.Errorf("the job: URL %q, event %+v; want %q and the test event", j.URL, j.Event, w.URL)
	}
	again, err := f.s.ClaimDeliveries(f.ctx, "worker-b", time.Minute, 10)
	must(t, "ClaimDeliveries while leased", err)
	if len(again) != 0 {
		t.Errorf("ClaimDeliveries while leased: %d jobs, want none", len(again))
	}
	attempt := novamed.Attempt{At: f.tick(), StatusCode: 503, LatencyMS: 42, Error: "receiver unavailable"}
	held, err := f.s.RecordAttempt(f.ctx, d.ID, "worker-b", attempt, novamed.DeliveryFailed, nil)
	must(t, "RecordAttempt by a worker without the lease", err)
	if held {
		t.Error("RecordAttempt by a worker without the lease: held, want ignored")
	}
	held, err = f.s.RecordAttempt(f.ctx, d.ID, "worker-a", attempt, novamed.DeliveryFailed, nil)
	must(t, "RecordAttempt", err)
	if !held {
		t.Fatal("RecordAttempt by the lease holder: ignored")
	}
	held, err = f.s.RecordAttempt(f.ctx, d.ID, "worker-a", attempt, novamed.DeliverySucceeded, nil)
	must(t, "RecordAttempt after the lease ended", err)
	if held {
		t.Error("RecordAttempt after the lease ended: held, want ignored")
	}
	pending, err = f.s.PendingDeliveries(f.ctx)
	must(t, "PendingDeliveries", err)
	if pending != 0 {
		t.Errorf("PendingDeliveries after the failure = %d, want 0", pending)
	}
	ds, _, err := f.s.ListDeliveries(f.ctx, novamed.DeliveryFilter{Clinics: []string{a.ID}, Status: novamed.DeliveryFailed, Limit: 10})
	must(t, "ListDeliveries failed", err)
	if len(ds) != 1 || ds[0].Attempts != 1 || ds[0].NextAttemptAt != nil {
		t.Fatalf("the failed delivery: %+v, want one attempt and no next", ds)
	}
	attempt.Number, attempt.At = 1, norm(attempt.At)
	equal(t, "the failed delivery's history", ds[0].History, []novamed.Attempt{attempt})

	// A manual retry, scoped to the delivery's clinic and webhook.
	_, err = f.s.RetryDelivery(f.ctx, d.ID, "", []string{b.ID})
	wantCode(t, "RetryDelivery from another clinic", err, novamed.CodeNotFound)
	_, err = f.s.RetryDelivery(f.ctx, d.ID, other.ID, []string{a.ID})
	wantCode(t, "RetryDelivery under another webhook", err, novamed.CodeNotFound)
	_, err = f.s.RetryDelivery(f.ctx, d.ID, "", nil)
	wantCode(t, "RetryDelivery with no clinics", err, novamed.CodeNotFound)
	r, err := f.s.RetryDelivery(f.ctx, d.ID, w.ID, []string{a.ID})
	must(t, "RetryDelivery", err)
	if r.ID != d.ID || r.Status != novamed.DeliveryPending || r.NextAttemptAt == nil {
		t.Errorf("RetryDelivery: %+v, want %s pending and due", r, d.ID)
	}
	jobs, err = f.s.ClaimDeliveries(f.ctx, "worker-b", time.Minute, 10)
	must(t, "ClaimDeliveries after the retry", err)
	if len(jobs) != 1 || jobs[0].ID != d.ID {
		t.Fatalf("ClaimDeliveries after the retry: %d jobs, want %s", len(jobs), d.ID)
	}
	held, err = f.s.RecordAttempt(f.ctx, d.ID, "worker-b", novamed.Attempt{At: f.tick(), StatusCode: 200}, novamed.DeliverySucceeded, nil)
	must(t, "RecordAttempt", err)
	if !held {
		t.Fatal("RecordAttempt after the retry: ignored")
	}
	ds, _, err = f.s.ListDeliveries(f.ctx, novamed.DeliveryFilter{WebhookID: w.ID, Status: novamed.DeliverySucceeded, Limit: 10})
	must(t, "ListDeliveries succeeded", err)
	if len(ds) != 1 || ds[0].Attempts != 2 || len(ds[0].History) != 2 || ds[0].History[1].StatusCode != 200 {
		t.Errorf("the retried delivery: %+v, want two attempts, the second a 200", ds)
	}
	_, err = f.s.SendTestEvent(f.ctx, newV7(t), &novamed.Event{ID: newV7(t), ClinicID: a.ID, Name: novamed.EventWebhookTest,
		Data: map[string]any{}, CreatedAt: f.tick()})
	wantCode(t, "SendTestEvent to an unknown webhook", err, novamed.CodeNotFound)
}
