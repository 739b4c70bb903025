package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// webhookBackends runs fn on SQLite and on PostgreSQL, each with a raw
// connection to the same database for inspecting and editing stored rows.
func webhookBackends(t *testing.T, fn func(t *testing.T, s *sqlstore.Store, raw *sql.DB, q func(string) string)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "novamed.db")
		s, err := sqlstore.OpenSQLite(t.Context(), path, sqlstore.Options{Keyring: testKeyring(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		raw, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		fn(t, s, raw, func(q string) string { return q })
	})
	t.Run("postgres", func(t *testing.T) {
		s, raw := openPostgresAndRaw(t)
		fn(t, s, raw, func(q string) string { return strings.Replace(q, "?", "$1", 1) })
	})
}

// TestWebhookSecretsStoredSealed: neither secret (nor a rotation's previous
// pair) is stored in clear, as the one secret was not before; and a webhook
// registered before the two secrets (no verification token stored) keeps
// its one secret as both token and signing secret, so its receivers keep
// accepting deliveries.
func TestWebhookSecretsStoredSealed(t *testing.T) {
	webhookBackends(t, func(t *testing.T, s *sqlstore.Store, raw *sql.DB, q func(string) string) {
		ctx := context.Background()
		clinic := &novamed.Clinic{ID: uuid.NewString(), Name: "W", CreatedAt: time.Now()}
		if err := s.CreateClinic(ctx, clinic); err != nil {
			t.Fatal(err)
		}
		old := novamed.NewWebhookSecrets()
		w := &novamed.Webhook{ID: uuid.NewString(), ClinicID: clinic.ID, URL: "https://hooks.example.test/h", Secrets: old, CreatedAt: time.Now()}
		if err := s.CreateWebhook(ctx, w, novamed.Effects{}); err != nil {
			t.Fatal(err)
		}
		fresh := novamed.NewWebhookSecrets()
		if _, err := s.RotateWebhookSecrets(ctx, w.ID, []string{clinic.ID}, fresh, time.Now().Add(time.Hour), novamed.Effects{}); err != nil {
			t.Fatal(err)
		}
		var cols [4]string
		if err := raw.QueryRowContext(ctx, q(`SELECT secret, verification_token, prev_secret, prev_token FROM webhooks WHERE id = ?`), w.ID).
			Scan(&cols[0], &cols[1], &cols[2], &cols[3]); err != nil {
			t.Fatal(err)
		}
		for _, c := range cols {
			if c == "" {
				t.Errorf("a secret column is empty: %q", cols)
			}
			for _, secret := range []string{old.SigningSecret, old.VerificationToken, fresh.SigningSecret, fresh.VerificationToken} {
				if strings.Contains(c, secret) || strings.Contains(c, strings.TrimPrefix(secret, "whsec_")) || strings.Contains(c, strings.TrimPrefix(secret, "whvt_")) {
					t.Errorf("a secret is stored in clear")
				}
			}
		}

		// A webhook as version 00007 finds it: one secret, no token.
		legacy := &novamed.Webhook{ID: uuid.NewString(), ClinicID: clinic.ID, URL: "https://hooks.example.test/l", Secrets: old, CreatedAt: time.Now()}
		if err := s.CreateWebhook(ctx, legacy, novamed.Effects{}); err != nil {
			t.Fatal(err)
		}
		if _, err := raw.ExecContext(ctx, q(`UPDATE webhooks SET verification_token = '' WHERE id = ?`), legacy.ID); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetWebhook(ctx, legacy.ID, []string{clinic.ID})
		if err != nil {
			t.Fatal(err)
		}
		if token, signing := got.Secrets.At(time.Now()); token != old.SigningSecret || len(signing) != 1 || signing[0] != old.SigningSecret {
			t.Errorf("an upgraded webhook sends token %v and signs with %d secrets", token == old.SigningSecret, len(signing))
		}
		// Its first rotation keeps the old secret as the token deliveries
		// carry during the overlap.
		r, err := s.RotateWebhookSecrets(ctx, legacy.ID, []string{clinic.ID}, fresh, time.Now().Add(time.Hour), novamed.Effects{})
		if err != nil {
			t.Fatal(err)
		}
		if token, signing := r.Secrets.At(time.Now()); token != old.SigningSecret || len(signing) != 2 || signing[1] != old.SigningSecret {
			t.Errorf("an upgraded webhook's rotation: token is the old secret %v, %d signing secrets", token == old.SigningSecret, len(signing))
		}
	})
}
