package sqlstore_test

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// TestKeepsAnAdminAndResetSecondFactor: the rules the console's operators
// page (and any other caller) uses to never leave the deployment without
// an active admin, and a second-factor reset that takes effect at once.
func TestKeepsAnAdminAndResetSecondFactor(t *testing.T) {
	ctx := t.Context()
	s, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "novamed.db"), sqlstore.Options{Keyring: testKeyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	svc := &operator.Service{Store: s, Env: novamed.Production, Params: operator.PasswordParams{Memory: 1024, Time: 1, Threads: 1}}
	mk := func(email string, role operator.Role) *operator.Operator {
		o, err := svc.Create(ctx, email, "", role, "correct horse battery staple")
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	a := mk("a@novamed.test", operator.Admin)
	v := mk("v@novamed.test", operator.Viewer)
	refused := func(by string, o *operator.Operator, role operator.Role, st operator.Status, want string) {
		t.Helper()
		err := svc.CheckKeepsAdmin(ctx, by, o, role, st)
		if novamed.ErrorCode(err) != novamed.CodeInvalid || !strings.Contains(err.Error(), want) {
			t.Errorf("change of %s to %q/%q by %s: %v, want a refusal saying %q", o.Email, role, st, by, err, want)
		}
	}
	refused(a.ID, a, operator.Viewer, "", "You are the last active admin")
	refused(v.ID, a, "", operator.Disabled, "a@novamed.test is the last active admin")
	refused(a.ID, a, "", operator.Disabled, "cannot disable your own account")
	for _, ok := range []struct {
		o    *operator.Operator
		role operator.Role
		st   operator.Status
	}{{a, operator.Admin, ""}, {v, operator.Security, operator.Disabled}, {a, "", operator.Active}} {
		if err := svc.CheckKeepsAdmin(ctx, a.ID, ok.o, ok.role, ok.st); err != nil {
			t.Errorf("harmless change of %s: %v", ok.o.Email, err)
		}
	}
	// A disabled admin does not count; an active second one does.
	b := mk("b@novamed.test", operator.Admin)
	if err := svc.Update(ctx, b, "", operator.Disabled); err != nil {
		t.Fatal(err)
	}
	refused(a.ID, a, operator.Support, "", "last active admin")
	if err := svc.Update(ctx, b, "", operator.Active); err != nil {
		t.Fatal(err)
	}
	if err := svc.CheckKeepsAdmin(ctx, a.ID, a, operator.Support, ""); err != nil {
		t.Errorf("with a second admin: %v", err)
	}

	// Reset: the second factor goes, tokens are revoked, a new link works.
	if _, err := svc.EnrolTOTP(ctx, v); err != nil {
		t.Fatal(err)
	}
	raw, _, err := svc.IssueToken(ctx, v, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	path, _, err := svc.ResetSecondFactor(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetOperator(ctx, v.ID)
	if err != nil || got.HasTOTP() {
		t.Fatalf("after the reset: TOTP %v (%v)", got.HasTOTP(), err)
	}
	if _, _, err := svc.Authenticate(ctx, raw); err == nil {
		t.Error("a token survived the reset")
	}
	if _, err := svc.Login(ctx, "v@novamed.test", "correct horse battery staple", "", "127.0.0.1"); err == nil {
		t.Error("a production sign-in without a second factor worked after the reset")
	}
	if _, err := svc.UseSetupLink(ctx, strings.TrimPrefix(path, operator.SetupLinkPath), "a new long passphrase"); err != nil {
		t.Errorf("the reset's setup link: %v", err)
	}
}

// TestLastAdminGuardIsAtomic: two admins demote each other at the same
// moment, each after CheckKeepsAdmin passed (both saw two active admins):
// the store decides in the update's transaction, so exactly one demotion
// goes through, the other is refused as the last active admin, and one
// active admin remains; on SQLite and on PostgreSQL, several rounds.
func TestLastAdminGuardIsAtomic(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := t.Context()
			var s *sqlstore.Store
			if backend == "postgres" {
				s = openPostgres(t, ctx, postgresServer(t).freshDatabase(t), testKeyring(t))
			} else {
				var err error
				if s, err = sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "novamed.db"), sqlstore.Options{Keyring: testKeyring(t)}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
			}
			svc := &operator.Service{Store: s, Env: novamed.Development, Params: operator.PasswordParams{Memory: 1024, Time: 1, Threads: 1}}
			var ids [2]string
			for i, email := range []string{"first@novamed.test", "second@novamed.test"} {
				o, err := svc.Create(ctx, email, "", operator.Admin, "correct horse battery staple")
				if err != nil {
					t.Fatal(err)
				}
				ids[i] = o.ID
			}
			activeAdmins := func() int {
				all, err := s.ListOperators(ctx)
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, o := range all {
					if o.Role == operator.Admin && o.Status == operator.Active {
						n++
					}
				}
				return n
			}
			for round := range 8 {
				// Round by round the demotion is a role change or a disable.
				role, status := operator.Viewer, operator.Status("")
				if round%2 == 1 {
					role, status = "", operator.Disabled
				}
				var ready, start sync.WaitGroup
				ready.Add(2)
				start.Add(1)
				errs := make([]error, 2)
				var done sync.WaitGroup
				for i := range 2 {
					done.Add(1)
					go func() {
						defer done.Done()
						self, err := s.GetOperator(ctx, ids[i])
						if err == nil {
							// Each demotes the other: both pass the early check.
							var other *operator.Operator
							if other, err = s.GetOperator(ctx, ids[1-i]); err == nil {
								if err = svc.CheckKeepsAdmin(ctx, self.ID, other, role, status); err == nil {
									ready.Done()
									start.Wait()
									errs[i] = svc.Update(ctx, other, role, status)
									return
								}
							}
						}
						errs[i] = err
						ready.Done()
					}()
				}
				ready.Wait()
				start.Done()
				done.Wait()
				failed := 0
				for _, err := range errs {
					if err != nil {
						failed++
						if novamed.ErrorCode(err) != novamed.CodeInvalid || !strings.Contains(err.Error(), "last active admin") {
							t.Fatalf("round %d: refused demotion: %v, want the last-admin refusal", round, err)
						}
					}
				}
				if failed != 1 || activeAdmins() != 1 {
					t.Fatalf("round %d: %d of 2 concurrent demotions refused, %d active admins; want exactly 1 and 1 (errors %v)", round, failed, activeAdmins(), errs)
				}
				// Restore both admins for the next round.
				for _, id := range ids {
					o, err := s.GetOperator(ctx, id)
					if err != nil {
						t.Fatal(err)
					}
					if err := svc.Update(ctx, o, operator.Admin, operator.Active); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}
