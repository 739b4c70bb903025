package webhook

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/client/webhook"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/sqlstore"
)

type received struct {
	header http.Header
	body   []byte
}

// TestRotatedSecretsDuringAndAfterOverlap (issue 18, item 8): a delivery's
// x-api-key is the verification token, never a signing secret; after a
// rotation with an overlap, deliveries carry the old token and verify with
// the old and the new signing secret; after the overlap (the worker's clock
// moved past it) they carry the new token and verify only with the new
// secret.
func TestRotatedSecretsDuringAndAfterOverlap(t *testing.T) {
	onBothBackends(t, func(t *testing.T, s *sqlstore.Store, clinic string) {
		ctx := context.Background()
		var mu sync.Mutex
		var got []received
		rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			got = append(got, received{r.Header.Clone(), body})
			mu.Unlock()
			w.WriteHeader(204)
		}))
		defer rc.Close()
		old := novamed.NewWebhookSecrets()
		wh := &novamed.Webhook{ID: uuid.NewString(), ClinicID: clinic, URL: rc.URL, Secrets: old, CreatedAt: time.Now()}
		if err := s.CreateWebhook(ctx, wh, novamed.Effects{}); err != nil {
			t.Fatal(err)
		}
		var clock time.Time
		w := newWorker(s, "w", []time.Duration{0})
		w.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
		setClock := func(t time.Time) { mu.Lock(); clock = t; mu.Unlock() }
		deliver := func(what string) received {
			t.Helper()
			ev := &novamed.Event{ID: uuid.NewString(), ClinicID: clinic, Name: novamed.EventWebhookTest, Data: map[string]any{"what": what}, CreatedAt: time.Now()}
			if _, err := s.SendTestEvent(ctx, wh.ID, ev); err != nil {
				t.Fatal(err)
			}
			if n, err := w.RunOnce(ctx); err != nil || n != 1 {
				t.Fatalf("%s: attempted %d (%v)", what, n, err)
			}
			mu.Lock()
			defer mu.Unlock()
			return got[len(got)-1]
		}
		verifies := func(d received, secret string) bool {
			// The worker's clock stamps the delivery; the tolerance covers it.
			return webhook.Verify(secret, d.header, d.body, 3*time.Hour) == nil
		}

		setClock(time.Now())
		before := deliver("before")
		if k := before.header.Get("x-api-key"); k != old.VerificationToken || k == old.SigningSecret {
			t.Errorf("x-api-key is the token %v, is the signing secret %v", k == old.VerificationToken, k == old.SigningSecret)
		}
		if !verifies(before, old.SigningSecret) || verifies(before, "whsec_"+strings.Repeat("A", 44)) {
			t.Errorf("before the rotation: signature %q", before.header.Get("webhook-signature"))
		}

		fresh := novamed.NewWebhookSecrets()
		rotatedAt := time.Now()
		if _, err := s.RotateWebhookSecrets(ctx, wh.ID, []string{clinic}, fresh, rotatedAt.Add(time.Hour), novamed.Effects{}); err != nil {
			t.Fatal(err)
		}
		during := deliver("during")
		if k := during.header.Get("x-api-key"); k != old.VerificationToken {
			t.Errorf("during the overlap x-api-key is not the old token (new token: %v)", k == fresh.VerificationToken)
		}
		if n := len(strings.Fields(during.header.Get("webhook-signature"))); n != 2 {
			t.Errorf("during the overlap %d signatures, want 2", n)
		}
		if !verifies(during, old.SigningSecret) || !verifies(during, fresh.SigningSecret) {
			t.Errorf("during the overlap: old verifies %v, new verifies %v", verifies(during, old.SigningSecret), verifies(during, fresh.SigningSecret))
		}

		setClock(rotatedAt.Add(time.Hour + time.Second))
		after := deliver("after")
		if k := after.header.Get("x-api-key"); k != fresh.VerificationToken || k == fresh.SigningSecret {
			t.Errorf("after the overlap x-api-key is the new token %v, the new signing secret %v", k == fresh.VerificationToken, k == fresh.SigningSecret)
		}
		if !verifies(after, fresh.SigningSecret) {
			t.Errorf("after the overlap the new secret does not verify")
		}
		if err := webhook.Verify(old.SigningSecret, after.header, after.body, 3*time.Hour); !errors.Is(err, webhook.ErrBadSignature) {
			t.Errorf("after the overlap the old secret still verifies (err %v)", err)
		}
	})
}
