package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/onboarding"
	"github.com/novamed/partner-api/internal/operator"
	"github.com/novamed/partner-api/internal/partneruser"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// openBothWays opens a store of backend and a plain connection to the
// same database.
func openBothWays(t *testing.T, backend string) (*sqlstore.Store, *sql.DB) {
	t.Helper()
	if backend == "postgres" {
		return openPostgresAndRaw(t)
	}
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
	return s, raw
}

// racingStore runs afterRead once, right after the next read of an
// account by email (operator) or id (partner user): another request's
// change landing between a request's read and its write.
type racingStore struct {
	*sqlstore.Store
	afterRead func()
}

func (r *racingStore) race() {
	if f := r.afterRead; f != nil {
		r.afterRead = nil
		f()
	}
}

func (r *racingStore) GetOperatorByEmail(ctx context.Context, email string) (*operator.Operator, error) {
	o, err := r.Store.GetOperatorByEmail(ctx, email)
	r.race()
	return o, err
}

func (r *racingStore) GetPartnerUser(ctx context.Context, id string) (*partneruser.User, error) {
	u, err := r.Store.GetPartnerUser(ctx, id)
	r.race()
	return u, err
}

// TestOperatorWritesKeepConcurrentChanges: every operator write changes
// only its own columns of the stored row, never a whole row read earlier
// (the lost update of the security review). An admin's disable that lands
// during a sign-in which rehashes the password, or during a TOTP
// confirmation, stays; a concurrent role change stays; a password set
// during such a sign-in stays; and the TOTP code of a sign-in that
// rehashes cannot be used again (totp_last_step is never written back).
// On SQLite and PostgreSQL.
func TestOperatorWritesKeepConcurrentChanges(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := t.Context()
			s, _ := openBothWays(t, backend)
			now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			weak := operator.PasswordParams{Memory: 1024, Time: 1, Threads: 1}
			strong := operator.PasswordParams{Memory: 2048, Time: 1, Threads: 1}
			admin := &operator.Service{Store: s, Env: novamed.Development, Now: clock, Params: weak}
			rs := &racingStore{Store: s}
			// Signs in under costs other than the stored hash's: it rehashes.
			signIn := &operator.Service{Store: rs, Env: novamed.Development, Now: clock, Params: strong}
			const pw = "correct horse battery staple"
			if _, err := admin.Create(ctx, "keep@novamed.test", "", operator.Admin, pw); err != nil {
				t.Fatal(err)
			}
			a, err := admin.Create(ctx, "a@novamed.test", "", operator.Admin, pw)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := admin.EnrolTOTP(ctx, a); err != nil {
				t.Fatal(err)
			}
			secret := a.TOTPSecret
			stored := func() *operator.Operator {
				t.Helper()
				o, err := s.GetOperator(ctx, a.ID)
				if err != nil {
					t.Fatal(err)
				}
				return o
			}
			setAccess := func(role operator.Role, st operator.Status) {
				t.Helper()
				if err := admin.Update(ctx, stored(), role, st); err != nil {
					t.Fatal(err)
				}
			}
			code := func() string {
				t.Helper()
				now = now.Add(time.Minute) // a step no code was used at
				c, err := operator.TOTPCode(secret, now)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			weakHash := func() {
				t.Helper()
				if _, err := admin.SetPassword(ctx, a.ID, pw); err != nil {
					t.Fatal(err)
				}
			}

			t.Run("disable during a sign-in that rehashes", func(t *testing.T) {
				weakHash()
				rs.afterRead = func() { setAccess("", operator.Disabled) }
				if _, err := signIn.Login(ctx, a.Email, pw, code(), "192.0.2.1"); err != nil {
					t.Fatalf("sign-in: %v", err)
				}
				got := stored()
				if operator.NeedsRehash(got.PasswordHash, strong) {
					t.Fatal("the sign-in did not rehash: the test does not test the rehash write")
				}
				if got.Status != operator.Disabled || got.Role != operator.Admin {
					t.Errorf("after the rehash: %s %s, want the disable made during the sign-in to stay", got.Role, got.Status)
				}
				setAccess("", operator.Active)
			})

			t.Run("a sign-in's code works once though the sign-in rehashes", func(t *testing.T) {
				weakHash()
				c := code()
				if _, err := signIn.Login(ctx, a.Email, pw, c, "192.0.2.1"); err != nil {
					t.Fatalf("sign-in: %v", err)
				}
				if operator.NeedsRehash(stored().PasswordHash, strong) {
					t.Fatal("the sign-in did not rehash")
				}
				if _, err := signIn.Login(ctx, a.Email, pw, c, "192.0.2.2"); err != operator.ErrBadCredentials {
					t.Errorf("the same code again: %v, want ErrBadCredentials", err)
				}
				if err := admin.ResetThrottle(ctx, a.Email, "192.0.2.2"); err != nil {
					t.Fatal(err)
				}
			})

			t.Run("a password set during a sign-in that rehashes stays", func(t *testing.T) {
				weakHash()
				const newPW = "another long enough password"
				rs.afterRead = func() {
					if _, err := admin.SetPassword(ctx, a.ID, newPW); err != nil {
						t.Error(err)
					}
				}
				if _, err := signIn.Login(ctx, a.Email, pw, code(), "192.0.2.1"); err != nil {
					t.Fatalf("sign-in: %v", err)
				}
				if ok, err := operator.VerifyPassword(stored().PasswordHash, newPW); err != nil || !ok {
					t.Errorf("the password set during the sign-in: %v %v, want it kept", ok, err)
				}
				if _, err := admin.SetPassword(ctx, a.ID, pw); err != nil {
					t.Fatal(err)
				}
			})

			t.Run("disable during a TOTP confirmation", func(t *testing.T) {
				stale := stored()
				setAccess("", operator.Disabled)
				newSecret, _, err := operator.NewTOTP("t", a.Email)
				if err != nil {
					t.Fatal(err)
				}
				now = now.Add(time.Minute)
				c, _ := operator.TOTPCode(newSecret, now)
				if err := admin.ConfirmTOTP(ctx, stale, newSecret, c); err != nil {
					t.Fatal(err)
				}
				got := stored()
				if got.TOTPSecret != newSecret {
					t.Fatal("the confirmation did not store the secret")
				}
				if got.Status != operator.Disabled {
					t.Errorf("after the confirmation: %s, want the disable to stay", got.Status)
				}
				step := now.Unix() / 30
				if got.TOTPLastStep < step {
					t.Errorf("last used step %d after confirming with the code of step %d", got.TOTPLastStep, step)
				}
				secret = newSecret
				setAccess("", operator.Active)
			})

			t.Run("a role change during a disable", func(t *testing.T) {
				stale := stored()
				setAccess(operator.Support, "")
				if err := admin.Update(ctx, stale, "", operator.Disabled); err != nil {
					t.Fatal(err)
				}
				if got := stored(); got.Role != operator.Support || got.Status != operator.Disabled {
					t.Errorf("after both: %s %s, want support disabled", got.Role, got.Status)
				}
				if stale.Role != operator.Support || stale.Status != operator.Disabled {
					t.Errorf("the updated copy: %s %s, want it to show the stored row", stale.Role, stale.Status)
				}
			})
		})
	}
}

// TestPartnerUserStatusKeepsConcurrentChanges: disabling a partner user
// writes the status only, so a change of the row made since the read
// (here its role) stays; on SQLite and PostgreSQL.
func TestPartnerUserStatusKeepsConcurrentChanges(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := t.Context()
			s, raw := openBothWays(t, backend)
			now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			p, err := onboarding.CreatePartner(ctx, s, onboarding.Deps{Now: clock}, onboarding.Actor{ID: "operator:t"}, onboarding.CreatePartnerInput{Name: "Race Partner"})
			if err != nil {
				t.Fatal(err)
			}
			rs := &racingStore{Store: s}
			svc := &partneruser.Service{Store: rs, Now: clock, Params: operator.PasswordParams{Memory: 64, Time: 1, Threads: 1}}
			u, _, _, err := svc.Invite(ctx, partneruser.Actor{ID: "operator:t"}, partneruser.InviteInput{PartnerID: p.ID, Email: "eve@partner.test", Name: "Eve", Role: partneruser.Admin})
			if err != nil {
				t.Fatal(err)
			}
			rs.afterRead = func() {
				// No service changes a role yet: the row is changed directly.
				if _, err := raw.ExecContext(ctx, `UPDATE partner_users SET role = '`+string(partneruser.Developer)+`' WHERE id = '`+strings.ReplaceAll(u.ID, "'", "")+`'`); err != nil {
					t.Error(err)
				}
			}
			if _, err := svc.SetStatus(ctx, partneruser.Actor{ID: "operator:t"}, p.ID, u.ID, partneruser.Disabled); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetPartnerUser(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Role != partneruser.Developer || got.Status != partneruser.Disabled {
				t.Errorf("after the disable: %s %s, want the role changed meanwhile to stay", got.Role, got.Status)
			}
		})
	}
}
