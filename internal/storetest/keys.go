package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// Fixed instants for key lifecycles, relative to a store clock between
// 2025-03-15 and 2090 (see the package documentation).
var (
	past       = time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)
	graceUntil = time.Date(2090, 6, 1, 12, 30, 0, 250000000, time.UTC)
	farFuture  = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	nearFuture = time.Date(2090, 1, 1, 0, 0, 0, 0, time.UTC) // before graceUntil
)

func testAPIKeys(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	t.Run("CreateGetFind", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b := f.clinic("A"), f.clinic("B")
		lo, hi := a.ID, b.ID
		if hi < lo {
			lo, hi = hi, lo
		}
		expires, revoked := at(48*time.Hour+123456789), at(24*time.Hour+987654321)
		full := f.newKey("Full key ✓", novamed.Production, hi, lo) // unsorted on purpose
		full.RateLimit, full.ExpiresAt, full.RevokedAt = 250, &expires, &revoked
		minimal := f.newKey("minimal", novamed.Development, a.ID)
		for _, k := range []*novamed.APIKey{full, minimal} {
			t.Run(k.Name, func(t *testing.T) {
				must(t, "CreateAPIKey", f.s.CreateAPIKey(f.ctx, k))
				want := storedKey(k)
				got, err := f.s.GetAPIKey(f.ctx, k.ID)
				must(t, "GetAPIKey", err)
				equal(t, "GetAPIKey", got, want)
				got, err = f.s.FindAPIKeyByHash(f.ctx, k.HashHex)
				must(t, "FindAPIKeyByHash", err)
				equal(t, "FindAPIKeyByHash", got, want)
			})
		}
	})

	t.Run("CreateErrors", func(t *testing.T) {
		const unknownClinic = "00000000-0000-4000-8000-0000000000ff"
		cases := []struct {
			name   string
			mutate func(k, existing *novamed.APIKey, clinic string)
			code   string // the wanted error code, or
			is     error  // the wanted wrapped error
			stored bool   // the failed key's id names the existing key
		}{
			{name: "unknown clinic", code: novamed.CodeClinicNotFound,
				mutate: func(k, _ *novamed.APIKey, _ string) { k.Clinics = []string{unknownClinic} }},
			{name: "one unknown clinic among known", code: novamed.CodeClinicNotFound,
				mutate: func(k, _ *novamed.APIKey, c string) { k.Clinics = []string{c, unknownClinic} }},
			{name: "nil clinics", code: novamed.CodeInvalid,
				mutate: func(k, _ *novamed.APIKey, _ string) { k.Clinics = nil }},
			{name: "empty clinics", code: novamed.CodeInvalid,
				mutate: func(k, _ *novamed.APIKey, _ string) { k.Clinics = []string{} }},
			{name: "duplicate id", is: novamed.ErrConflict, stored: true,
				mutate: func(k, e *novamed.APIKey, _ string) { k.ID, k.Owner = e.ID, e.Owner }},
			{name: "duplicate hash", is: novamed.ErrConflict,
				mutate: func(k, e *novamed.APIKey, _ string) { k.HashHex = e.HashHex }},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixture(t, newStore)
				c := f.clinic("A")
				existing := f.key("existing", c.ID)
				k := f.newKey("failing", novamed.Development, c.ID)
				tc.mutate(k, existing, c.ID)
				err := f.s.CreateAPIKey(f.ctx, k)
				if tc.is != nil {
					wantIs(t, "CreateAPIKey", err, tc.is)
				} else {
					wantCode(t, "CreateAPIKey", err, tc.code)
				}
				if !tc.stored {
					_, err = f.s.GetAPIKey(f.ctx, k.ID)
					wantCode(t, "GetAPIKey of the failed key", err, novamed.CodeNotFound)
				}
				equal(t, "existing key after the failure", f.getKey(existing.ID), storedKey(existing))
				list, err := f.s.ListAPIKeys(f.ctx, "")
				must(t, "ListAPIKeys", err)
				equal(t, "ListAPIKeys after the failure", list, []*novamed.APIKey{storedKey(existing)})
			})
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := f.clinic("A")
		f.key("k", c.ID)
		const unknown = "00000000-0000-4000-8000-0000000000ff"
		calls := []struct {
			name string
			call func() (*novamed.APIKey, error)
		}{
			{"GetAPIKey", func() (*novamed.APIKey, error) { return f.s.GetAPIKey(f.ctx, unknown) }},
			{"FindAPIKeyByHash", func() (*novamed.APIKey, error) {
				return f.s.FindAPIKeyByHash(f.ctx, "0000000000000000000000000000000000000000000000000000000000000000")
			}},
			{"RevokeAPIKey", func() (*novamed.APIKey, error) { return f.s.RevokeAPIKey(f.ctx, unknown, base) }},
			{"RollAPIKey", func() (*novamed.APIKey, error) {
				return f.s.RollAPIKey(f.ctx, unknown, f.newKey("next", novamed.Development, c.ID), graceUntil)
			}},
			{"UpdateAPIKeyRateLimit", func() (*novamed.APIKey, error) { return f.s.UpdateAPIKeyRateLimit(f.ctx, unknown, 5) }},
		}
		for _, c := range calls {
			got, err := c.call()
			wantCode(t, c.name+" unknown key", err, novamed.CodeNotFound)
			if got != nil {
				t.Errorf("%s unknown key: got %+v, want nil", c.name, got)
			}
		}
		list, err := f.s.ListAPIKeys(f.ctx, "")
		must(t, "ListAPIKeys", err)
		if len(list) != 1 {
			t.Errorf("ListAPIKeys after failed calls: got %d keys, want 1 (a failed roll stored its successor?)", len(list))
		}
	})

	t.Run("List", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b, c := f.clinic("A"), f.clinic("B"), f.clinic("C")
		k1 := f.newKey("k1", novamed.Development, a.ID)
		k1.CreatedAt = at(3 * time.Hour)
		k2 := f.newKey("k2", novamed.Production, b.ID)
		k2.CreatedAt = at(time.Hour)
		k3 := f.newKey("k3", novamed.Development, a.ID, b.ID)
		k3.CreatedAt = at(2 * time.Hour)
		k4 := f.newKey("k4", novamed.Development, a.ID)
		k4.CreatedAt = k1.CreatedAt // a tie: ordered by id
		for _, k := range []*novamed.APIKey{k1, k2, k3, k4} {
			must(t, "CreateAPIKey "+k.Name, f.s.CreateAPIKey(f.ctx, k))
		}
		last1, last4 := k1, k4
		if last4.ID < last1.ID {
			last1, last4 = last4, last1
		}
		cases := []struct {
			name   string
			clinic string
			want   []*novamed.APIKey
		}{
			{"all", "", []*novamed.APIKey{k2, k3, last1, last4}},
			{"clinic A", a.ID, []*novamed.APIKey{k3, last1, last4}},
			{"clinic B", b.ID, []*novamed.APIKey{k2, k3}},
			{"clinic C (none)", c.ID, []*novamed.APIKey{}},
		}
		for _, tc := range cases {
			got, err := f.s.ListAPIKeys(f.ctx, tc.clinic)
			must(t, "ListAPIKeys "+tc.name, err)
			want := []*novamed.APIKey{}
			for _, k := range tc.want {
				want = append(want, storedKey(k))
			}
			equal(t, "ListAPIKeys "+tc.name, got, want)
		}
	})

	t.Run("Revoke", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := f.clinic("A")
		k := f.key("k", c.ID)
		first := at(time.Hour).Truncate(time.Microsecond).UTC()
		got, err := f.s.RevokeAPIKey(f.ctx, k.ID, first)
		must(t, "RevokeAPIKey", err)
		want := storedKey(k)
		want.RevokedAt = &first
		equal(t, "RevokeAPIKey result", got, want)
		equal(t, "GetAPIKey after revoke", f.getKey(k.ID), want)

		got, err = f.s.RevokeAPIKey(f.ctx, k.ID, first.Add(time.Hour))
		must(t, "second RevokeAPIKey", err)
		equal(t, "second RevokeAPIKey result (keeps the first time)", got, want)
		equal(t, "GetAPIKey after second revoke", f.getKey(k.ID), want)
	})

	t.Run("Roll", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b := f.clinic("A"), f.clinic("B")
		old := f.newKey("lineage", novamed.Production, a.ID, b.ID)
		old.RateLimit = 77
		must(t, "CreateAPIKey", f.s.CreateAPIKey(f.ctx, old))
		lastUsed := at(time.Minute)
		must(t, "touch", touch(f.ctx, f.s, map[string]time.Time{old.ID: lastUsed}))

		next := f.newKey("ignored name", novamed.Development, b.ID) // inherits old's, whatever it says
		next.Owner, next.RateLimit = next.ID, 5
		snap := *next
		got, err := f.s.RollAPIKey(f.ctx, old.ID, next, graceUntil)
		must(t, "RollAPIKey", err)

		wantOld := storedKey(old)
		wantOld.LastUsedAt = normPtr(&lastUsed)
		wantOld.ExpiresAt, wantOld.ReplacedBy = &graceUntil, snap.ID
		equal(t, "RollAPIKey result (the old key)", got, wantOld)
		equal(t, "GetAPIKey old", f.getKey(old.ID), wantOld)

		wantNext := storedKey(&snap)
		wantNext.Owner, wantNext.Name, wantNext.Environment = old.Owner, old.Name, old.Environment
		wantNext.RateLimit, wantNext.Clinics = old.RateLimit, wantOld.Clinics
		equal(t, "GetAPIKey successor", f.getKey(snap.ID), wantNext)
		found, err := f.s.FindAPIKeyByHash(f.ctx, snap.HashHex)
		must(t, "FindAPIKeyByHash successor", err)
		equal(t, "FindAPIKeyByHash successor", found, wantNext)

		list, err := f.s.ListAPIKeys(f.ctx, a.ID)
		must(t, "ListAPIKeys", err)
		equal(t, "ListAPIKeys after roll", list, []*novamed.APIKey{wantOld, wantNext})

		t.Run("twice fails", func(t *testing.T) {
			again := f.newKey("again", novamed.Development, a.ID)
			got, err := f.s.RollAPIKey(f.ctx, old.ID, again, graceUntil.Add(time.Hour))
			wantCode(t, "second RollAPIKey", err, novamed.CodeInvalid)
			if got != nil {
				t.Errorf("second RollAPIKey: got %+v, want nil", got)
			}
			_, err = f.s.GetAPIKey(f.ctx, again.ID)
			wantCode(t, "GetAPIKey of the refused successor", err, novamed.CodeNotFound)
			equal(t, "GetAPIKey old after refused roll", f.getKey(old.ID), wantOld)
		})

		t.Run("successor rolls in the lineage", func(t *testing.T) {
			third := f.newKey("third", novamed.Development, a.ID)
			third.Owner = third.ID
			snap3 := *third
			_, err := f.s.RollAPIKey(f.ctx, snap.ID, third, graceUntil)
			must(t, "RollAPIKey successor", err)
			want := storedKey(&snap3)
			want.Owner, want.Name, want.Environment = old.Owner, old.Name, old.Environment
			want.RateLimit, want.Clinics = old.RateLimit, wantOld.Clinics
			equal(t, "GetAPIKey third", f.getKey(snap3.ID), want)
		})
	})

	t.Run("RollExpiry", func(t *testing.T) {
		cases := []struct {
			name              string
			expires           *time.Time // the old key's
			nextExpires       *time.Time // the successor's, as passed
			wantOld, wantNext *time.Time
		}{
			{name: "no expiry", expires: nil, wantOld: &graceUntil, wantNext: nil},
			{name: "expires after grace", expires: &farFuture, wantOld: &graceUntil, wantNext: &farFuture},
			{name: "expires before grace", expires: &nearFuture, wantOld: &nearFuture, wantNext: &nearFuture},
			{name: "successor sets its own", expires: &farFuture, nextExpires: &nearFuture, wantOld: &graceUntil, wantNext: &nearFuture},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixture(t, newStore)
				c := f.clinic("A")
				old := f.newKey("old", novamed.Development, c.ID)
				old.ExpiresAt = tc.expires
				must(t, "CreateAPIKey", f.s.CreateAPIKey(f.ctx, old))
				next := f.newKey("next", novamed.Development, c.ID)
				next.ExpiresAt = tc.nextExpires
				id := next.ID
				_, err := f.s.RollAPIKey(f.ctx, old.ID, next, graceUntil)
				must(t, "RollAPIKey", err)
				equal(t, "old ExpiresAt", f.getKey(old.ID).ExpiresAt, tc.wantOld)
				equal(t, "successor ExpiresAt", f.getKey(id).ExpiresAt, tc.wantNext)
			})
		}
	})

	t.Run("RollRefused", func(t *testing.T) {
		cases := []struct {
			name  string
			setup func(f *fixture, k *novamed.APIKey)
		}{
			{"revoked", func(f *fixture, k *novamed.APIKey) {
				must(f.t, "CreateAPIKey", f.s.CreateAPIKey(f.ctx, k))
				_, err := f.s.RevokeAPIKey(f.ctx, k.ID, past)
				must(f.t, "RevokeAPIKey", err)
			}},
			{"created revoked", func(f *fixture, k *novamed.APIKey) {
				k.RevokedAt = &past
				must(f.t, "CreateAPIKey", f.s.CreateAPIKey(f.ctx, k))
			}},
			{"expired", func(f *fixture, k *novamed.APIKey) {
				k.ExpiresAt = &past
				must(f.t, "CreateAPIKey", f.s.CreateAPIKey(f.ctx, k))
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixture(t, newStore)
				c := f.clinic("A")
				k := f.newKey("k", novamed.Development, c.ID)
				tc.setup(f, k)
				before := f.getKey(k.ID)
				next := f.newKey("next", novamed.Development, c.ID)
				got, err := f.s.RollAPIKey(f.ctx, k.ID, next, graceUntil)
				wantCode(t, "RollAPIKey", err, novamed.CodeInvalid)
				if got != nil {
					t.Errorf("RollAPIKey: got %+v, want nil", got)
				}
				_, err = f.s.GetAPIKey(f.ctx, next.ID)
				wantCode(t, "GetAPIKey of the refused successor", err, novamed.CodeNotFound)
				equal(t, "GetAPIKey after refused roll", f.getKey(k.ID), before)
			})
		}
	})

	t.Run("RollConflictStoresNothing", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := f.clinic("A")
		old, other := f.key("old", c.ID), f.key("other", c.ID)
		next := f.newKey("next", novamed.Development, c.ID)
		next.HashHex = other.HashHex
		_, err := f.s.RollAPIKey(f.ctx, old.ID, next, graceUntil)
		wantIs(t, "RollAPIKey with a duplicate hash", err, novamed.ErrConflict)
		equal(t, "GetAPIKey old after failed roll", f.getKey(old.ID), storedKey(old))
		_, err = f.s.GetAPIKey(f.ctx, next.ID)
		wantCode(t, "GetAPIKey of the failed successor", err, novamed.CodeNotFound)
	})

	t.Run("UpdateRateLimit", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := f.clinic("A")
		k := f.key("k", c.ID)
		want := storedKey(k)
		for _, limit := range []int{250, 1, 0} {
			got, err := f.s.UpdateAPIKeyRateLimit(f.ctx, k.ID, limit)
			must(t, "UpdateAPIKeyRateLimit", err)
			want.RateLimit = limit
			equal(t, "UpdateAPIKeyRateLimit result", got, want)
			equal(t, "GetAPIKey after update", f.getKey(k.ID), want)
		}
	})

	t.Run("Touch", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := f.clinic("A")
		k1, k2, k3 := f.key("k1", c.ID), f.key("k2", c.ID), f.key("k3", c.ID)
		t1, t2, t3 := at(time.Hour), at(2*time.Hour), at(3*time.Hour)
		must(t, "touch empty", touch(f.ctx, f.s, map[string]time.Time{}))
		steps := []struct {
			name  string
			touch map[string]time.Time
			want  map[string]*time.Time // by key id; nil: never used
		}{
			{"first use", map[string]time.Time{k1.ID: t2, k2.ID: t1},
				map[string]*time.Time{k1.ID: &t2, k2.ID: &t1, k3.ID: nil}},
			{"older time is ignored", map[string]time.Time{k1.ID: t1},
				map[string]*time.Time{k1.ID: &t2, k2.ID: &t1, k3.ID: nil}},
			{"same time", map[string]time.Time{k1.ID: t2},
				map[string]*time.Time{k1.ID: &t2, k2.ID: &t1, k3.ID: nil}},
			{"newer time moves it", map[string]time.Time{k1.ID: t3, k2.ID: t3},
				map[string]*time.Time{k1.ID: &t3, k2.ID: &t3, k3.ID: nil}},
		}
		for _, st := range steps {
			must(t, "touch "+st.name, touch(f.ctx, f.s, st.touch))
			for _, k := range []*novamed.APIKey{k1, k2, k3} {
				want := storedKey(k)
				want.LastUsedAt = normPtr(st.want[k.ID])
				equal(t, st.name+": GetAPIKey "+k.Name, f.getKey(k.ID), want)
			}
		}
	})

	// A method that changes a key returns the key as stored, so that what a
	// caller prints equals what a later GetAPIKey shows; the times passed in
	// here carry nanoseconds and a non-UTC zone.
	t.Run("ResultIsStoredForm", func(t *testing.T) {
		t.Run("RevokeAPIKey", func(t *testing.T) {
			f := newFixture(t, newStore)
			c := f.clinic("A")
			k := f.key("k", c.ID)
			got, err := f.s.RevokeAPIKey(f.ctx, k.ID, at(time.Hour))
			must(t, "RevokeAPIKey", err)
			equal(t, "RevokeAPIKey result vs GetAPIKey", got, f.getKey(k.ID))
		})
		t.Run("RollAPIKey", func(t *testing.T) {
			f := newFixture(t, newStore)
			c := f.clinic("A")
			k := f.key("k", c.ID)
			grace := graceUntil.Add(123456789 * time.Nanosecond).In(time.FixedZone("X", 3600))
			got, err := f.s.RollAPIKey(f.ctx, k.ID, f.newKey("next", novamed.Development, c.ID), grace)
			must(t, "RollAPIKey", err)
			equal(t, "RollAPIKey result vs GetAPIKey", got, f.getKey(k.ID))
		})
	})
}

// touch records last-used times the way the server does: as key activity
// in a usage flush.
func touch(ctx context.Context, s novamed.Store, lastUsed map[string]time.Time) error {
	var as []novamed.KeyActivity
	for id, t := range lastUsed {
		as = append(as, novamed.KeyActivity{KeyID: id, LastUsedAt: t})
	}
	return s.AddUsage(ctx, nil, as)
}
