package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
)

// webhook registers a webhook of clinic with fresh secrets.
func (f *fixture) webhook(clinic string) *novamed.Webhook {
	f.t.Helper()
	w := &novamed.Webhook{ID: newV7(f.t), ClinicID: clinic, URL: "https://hooks.example.test/" + uuid.NewString(),
		Secrets: novamed.NewWebhookSecrets(), CreatedAt: f.tick()}
	must(f.t, "CreateWebhook", f.s.CreateWebhook(f.ctx, w, novamed.Effects{}))
	return w
}

// claim leases every due delivery and names each "webhook-label event_name
// order-id" (no order id for an event about no order), sorted.
func (f *fixture) claim(worker string, labels map[string]string) ([]string, map[string]*novamed.DeliveryJob) {
	f.t.Helper()
	jobs, err := f.s.ClaimDeliveries(f.ctx, worker, time.Minute, 100)
	must(f.t, "ClaimDeliveries", err)
	var names []string
	byName := map[string]*novamed.DeliveryJob{}
	for _, j := range jobs {
		n := j.EventName
		if id, ok := j.Event.Data["id"].(string); ok && strings.Contains(j.EventName, ":") && j.EventName != novamed.EventWebhookTest {
			n += " " + id
		}
		n = labels[j.WebhookID] + " " + n
		names = append(names, n)
		byName[n] = j
	}
	slices.Sort(names)
	return names, byName
}

// record stores an attempt's outcome: "ok", "retry" (due again at once),
// "later" (due in an hour) or "failed".
func (f *fixture) record(worker string, j *novamed.DeliveryJob, outcome string) {
	f.t.Helper()
	if j == nil {
		f.t.Fatalf("record %s: no such claimed delivery", outcome)
	}
	now := time.Now()
	status, next := novamed.DeliverySucceeded, (*time.Time)(nil)
	switch outcome {
	case "retry":
		t := now.Add(-time.Millisecond)
		status, next = novamed.DeliveryPending, &t
	case "later":
		t := now.Add(time.Hour)
		status, next = novamed.DeliveryPending, &t
	case "failed":
		status = novamed.DeliveryFailed
	}
	held, err := f.s.RecordAttempt(f.ctx, j.ID, worker, novamed.Attempt{At: now, StatusCode: 500}, status, next)
	must(f.t, "RecordAttempt", err)
	if !held {
		f.t.Fatalf("RecordAttempt %s: lease lost", j.ID)
	}
}

// testWebhookOrder: events about one order reach a webhook in order (a
// later one is not claimed while an earlier one is pending, in flight or
// waiting for a retry, until it succeeds or fails); other orders, other
// webhooks and unordered events are not held; a manual retry goes out at
// once, outside the ordering. The condition is the claim's own, so it
// holds across replicas.
func testWebhookOrder(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	f := newFixture(t, newStore)
	c := f.clinic("Hooks")
	p := f.parties(c.ID)
	w1, w2 := f.webhook(c.ID), f.webhook(c.ID)
	k1, k2 := "w1", "w2"
	labels := map[string]string{w1.ID: k1, w2.ID: k2}
	o1, o2 := f.order(p), f.order(p)
	f.advance(o1, novamed.OrderSubmitted) // verified, then submitted
	f.advance(o2, novamed.OrderVerified)
	_, err := f.s.SendTestEvent(f.ctx, w1.ID, &novamed.Event{ID: newV7(t), ClinicID: c.ID, Name: novamed.EventWebhookTest,
		Data: map[string]any{"webhook_id": w1.ID}, CreatedAt: f.tick()})
	must(t, "SendTestEvent", err)
	verified, submitted := novamed.EventOrderVerified, novamed.EventOrderSubmitted
	name := func(k, ev, order string) string { return strings.TrimSpace(fmt.Sprintf("%s %s %s", k, ev, order)) }

	got, jobs := f.claim("w", labels)
	want := []string{name(k1, verified, o1.ID), name(k1, verified, o2.ID), name(k1, novamed.EventWebhookTest, ""),
		name(k2, verified, o1.ID), name(k2, verified, o2.ID)}
	slices.Sort(want)
	equal(t, "first claim: every order's first event, not o1's second", got, want)

	// o1's first event fails twice at webhook 1: its second stays back at
	// webhook 1 only; the others succeed and free webhook 2's o1.
	head := jobs[name(k1, verified, o1.ID)]
	f.record("w", head, "retry")
	for _, j := range jobs {
		if j != head {
			f.record("w", j, "ok")
		}
	}
	got, jobs = f.claim("w", labels)
	want = []string{name(k1, verified, o1.ID), name(k2, submitted, o1.ID)}
	slices.Sort(want)
	equal(t, "after the first failure", got, want)
	f.record("w", jobs[name(k2, submitted, o1.ID)], "ok")
	f.record("w", jobs[name(k1, verified, o1.ID)], "retry")
	got, jobs = f.claim("w", labels)
	equal(t, "after the second failure", got, []string{name(k1, verified, o1.ID)})
	// In flight (claimed, not yet recorded): still holds the second back.
	if again, _ := f.claim("other", labels); len(again) != 0 {
		t.Errorf("claimed while the order's earlier event is in flight: %v", again)
	}
	f.record("w", jobs[name(k1, verified, o1.ID)], "ok")
	got, jobs = f.claim("w", labels)
	equal(t, "after the first succeeded", got, []string{name(k1, submitted, o1.ID)})
	f.record("w", jobs[name(k1, submitted, o1.ID)], "ok")

	// A delivery marked failed releases the next one.
	o3 := f.order(p)
	f.advance(o3, novamed.OrderSubmitted)
	_, jobs = f.claim("w", labels)
	f.record("w", jobs[name(k1, verified, o3.ID)], "failed")
	f.record("w", jobs[name(k2, verified, o3.ID)], "ok")
	got, jobs = f.claim("w", labels)
	want = []string{name(k1, submitted, o3.ID), name(k2, submitted, o3.ID)}
	slices.Sort(want)
	equal(t, "after the first failed for good", got, want)
	for _, j := range jobs {
		f.record("w", j, "ok")
	}

	// A manual retry goes out at once, outside the ordering: the held
	// second event of o4 does not wait for the first (due in an hour), and
	// the first, retried, does not hold back anything.
	o4 := f.order(p)
	f.advance(o4, novamed.OrderSubmitted)
	_, jobs = f.claim("w", labels)
	f.record("w", jobs[name(k1, verified, o4.ID)], "later")
	f.record("w", jobs[name(k2, verified, o4.ID)], "ok")
	got, jobs = f.claim("w", labels)
	equal(t, "o4's second waits at webhook 1", got, []string{name(k2, submitted, o4.ID)})
	f.record("w", jobs[name(k2, submitted, o4.ID)], "ok")
	ds, _, err := f.s.ListDeliveries(f.ctx, novamed.DeliveryFilter{WebhookID: w1.ID, Status: novamed.DeliveryPending, Limit: 100})
	must(t, "ListDeliveries", err)
	var held, first string
	for _, d := range ds {
		switch d.EventName {
		case submitted:
			held = d.ID
		case verified:
			first = d.ID
		}
	}
	if held == "" || first == "" {
		t.Fatalf("pending deliveries of webhook 1: %+v", ds)
	}
	_, err = f.s.RetryDelivery(f.ctx, held, w1.ID, []string{c.ID})
	must(t, "RetryDelivery", err)
	got, jobs = f.claim("w", labels)
	equal(t, "a retried held delivery goes at once", got, []string{name(k1, submitted, o4.ID)})
	f.record("w", jobs[name(k1, submitted, o4.ID)], "ok")
	// Retrying a succeeded one (o1's first) sends it again, at once.
	ds, _, err = f.s.ListDeliveries(f.ctx, novamed.DeliveryFilter{WebhookID: w1.ID, Status: novamed.DeliverySucceeded, Limit: 100})
	must(t, "ListDeliveries", err)
	for _, d := range ds {
		if d.EventName == verified {
			_, err = f.s.RetryDelivery(f.ctx, d.ID, w1.ID, []string{c.ID})
			must(t, "RetryDelivery", err)
			break
		}
	}
	got, _ = f.claim("w", labels)
	if len(got) != 1 || !strings.HasPrefix(got[0], name(k1, verified, "")) {
		t.Errorf("a retried succeeded delivery: claimed %v", got)
	}
}

// testWebhookSecrets: the two secrets round-trip; a rotation keeps the
// replaced pair in use until its overlap ends (the old token and both
// signing secrets during it, only the new after); a second rotation during
// an overlap keeps the pair deliveries still carry; overlap 0 switches at
// once; a webhook of another clinic, unknown or deleted is not found.
func testWebhookSecrets(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	f := newFixture(t, newStore)
	c, other := f.clinic("Hooks"), f.clinic("Other")
	w := f.webhook(c.ID)
	s1 := w.Secrets
	if s1.SigningSecret == s1.VerificationToken || !strings.HasPrefix(s1.SigningSecret, "whsec_") || s1.VerificationToken == "" {
		t.Fatalf("fresh secrets: %+v", s1)
	}
	got, err := f.s.GetWebhook(f.ctx, w.ID, []string{c.ID})
	must(t, "GetWebhook", err)
	equal(t, "stored secrets", got.Secrets, s1)

	now := time.Now()
	s2 := novamed.NewWebhookSecrets()
	until := now.Add(time.Hour)
	rotated, err := f.s.RotateWebhookSecrets(f.ctx, w.ID, []string{c.ID}, s2, until, novamed.Effects{})
	must(t, "RotateWebhookSecrets", err)
	want := novamed.WebhookSecrets{SigningSecret: s2.SigningSecret, VerificationToken: s2.VerificationToken,
		PreviousSigningSecret: s1.SigningSecret, PreviousToken: s1.VerificationToken, OverlapUntil: norm(until)}
	equal(t, "rotated secrets", rotated.Secrets, want)
	got, err = f.s.GetWebhook(f.ctx, w.ID, []string{c.ID})
	must(t, "GetWebhook", err)
	equal(t, "stored rotated secrets", got.Secrets, want)
	token, signing := got.Secrets.At(now.Add(time.Minute))
	equal(t, "token during the overlap", token, s1.VerificationToken)
	equal(t, "signing secrets during the overlap", signing, []string{s2.SigningSecret, s1.SigningSecret})
	token, signing = got.Secrets.At(until.Add(time.Second))
	equal(t, "token after the overlap", token, s2.VerificationToken)
	equal(t, "signing secrets after the overlap", signing, []string{s2.SigningSecret})

	// A claimed delivery carries the same secrets.
	_, err = f.s.SendTestEvent(f.ctx, w.ID, &novamed.Event{ID: newV7(t), ClinicID: c.ID, Name: novamed.EventWebhookTest, Data: map[string]any{}, CreatedAt: f.tick()})
	must(t, "SendTestEvent", err)
	jobs, err := f.s.ClaimDeliveries(f.ctx, "w", time.Minute, 10)
	must(t, "ClaimDeliveries", err)
	if len(jobs) != 1 {
		t.Fatalf("claimed %d", len(jobs))
	}
	equal(t, "a job's secrets", jobs[0].Secrets, want)

	// Rotating again during the overlap: deliveries keep the first pair.
	s3 := novamed.NewWebhookSecrets()
	rotated, err = f.s.RotateWebhookSecrets(f.ctx, w.ID, []string{c.ID}, s3, now.Add(2*time.Hour), novamed.Effects{})
	must(t, "RotateWebhookSecrets", err)
	equal(t, "second rotation", rotated.Secrets, novamed.WebhookSecrets{SigningSecret: s3.SigningSecret, VerificationToken: s3.VerificationToken,
		PreviousSigningSecret: s1.SigningSecret, PreviousToken: s1.VerificationToken, OverlapUntil: norm(now.Add(2 * time.Hour))})

	// No overlap: the new pair alone, at once.
	s4 := novamed.NewWebhookSecrets()
	rotated, err = f.s.RotateWebhookSecrets(f.ctx, w.ID, []string{c.ID}, s4, time.Now(), novamed.Effects{})
	must(t, "RotateWebhookSecrets", err)
	equal(t, "rotation without overlap", rotated.Secrets, novamed.WebhookSecrets{SigningSecret: s4.SigningSecret, VerificationToken: s4.VerificationToken})
	got, err = f.s.GetWebhook(f.ctx, w.ID, []string{c.ID})
	must(t, "GetWebhook", err)
	equal(t, "stored after rotation without overlap", got.Secrets, rotated.Secrets)

	for what, id := range map[string]string{"another clinic's": w.ID, "an unknown": newV7(t)} {
		clinics := []string{other.ID}
		if what == "an unknown" {
			clinics = []string{c.ID}
		}
		_, err := f.s.RotateWebhookSecrets(f.ctx, id, clinics, novamed.NewWebhookSecrets(), time.Now(), novamed.Effects{})
		wantCode(t, "rotating "+what+" webhook", err, novamed.CodeNotFound)
	}
	must(t, "DeleteWebhook", f.s.DeleteWebhook(f.ctx, w.ID, []string{c.ID}, novamed.Effects{}))
	_, err = f.s.RotateWebhookSecrets(f.ctx, w.ID, []string{c.ID}, novamed.NewWebhookSecrets(), time.Now(), novamed.Effects{})
	wantCode(t, "rotating a deleted webhook", err, novamed.CodeNotFound)
	got2, err := f.s.GetWebhook(f.ctx, w.ID, []string{c.ID})
	if err == nil {
		t.Errorf("deleted webhook still read: %+v", got2)
	}
}
