package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
)

// testUsage: per-key usage counters, key activity, client networks, key
// prefixes and security events.
func testUsage(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	t.Run("Counters", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := f.clinic("A")
		k, other := f.key("k", c.ID), f.key("other", c.ID)
		must(t, "AddUsage of nothing", f.s.AddUsage(f.ctx, nil, nil))
		add := func(counts ...novamed.UsageCount) {
			t.Helper()
			must(t, "AddUsage", f.s.AddUsage(f.ctx, counts, nil))
		}
		uc := func(key, day, route, class string, n int64) novamed.UsageCount {
			return novamed.UsageCount{KeyID: key, Day: day, Route: route, StatusClass: class, Count: n}
		}
		add(uc(k.ID, "2025-03-15", "GET /patients", "2xx", 3), uc(k.ID, "2025-03-14", "GET /patients", "2xx", 1),
			uc(other.ID, "2025-03-15", "GET /patients", "2xx", 7))
		add(uc(k.ID, "2025-03-15", "GET /patients", "2xx", 2), uc(k.ID, "2025-03-15", "GET /patients", "4xx", 1),
			uc(k.ID, "2025-03-15", novamed.RouteRateLimited, "4xx", 4))
		got, err := f.s.Usage(f.ctx, k.ID, "2025-03-15")
		must(t, "Usage", err)
		equal(t, "Usage since 2025-03-15 (counts added up, by day, route and class)", got, []novamed.UsageCount{
			uc(k.ID, "2025-03-15", "GET /patients", "2xx", 5),
			uc(k.ID, "2025-03-15", "GET /patients", "4xx", 1),
			uc(k.ID, "2025-03-15", novamed.RouteRateLimited, "4xx", 4),
		})
		got, err = f.s.Usage(f.ctx, k.ID, "2025-03-01")
		must(t, "Usage", err)
		if len(got) != 4 || got[0].Day != "2025-03-14" {
			t.Errorf("Usage since 2025-03-01: %+v, want the 14th first, then the three of the 15th", got)
		}
		got, err = f.s.Usage(f.ctx, uuid.NewString(), "2025-03-01")
		must(t, "Usage of an unknown key", err)
		if got == nil || len(got) != 0 {
			t.Errorf("Usage of an unknown key: %#v, want an empty list", got)
		}
	})

	t.Run("Activity", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := f.clinic("A")
		k := f.key("k", c.ID)
		later, earlier := f.tick().Add(time.Hour), f.tick()
		must(t, "AddUsage activity", f.s.AddUsage(f.ctx, nil, []novamed.KeyActivity{{KeyID: k.ID, LastUsedAt: later, LastClient: "192.0.2.7"}}))
		must(t, "AddUsage older activity", f.s.AddUsage(f.ctx, nil, []novamed.KeyActivity{{KeyID: k.ID, LastUsedAt: earlier, LastClient: "192.0.2.8"}}))
		got := f.getKey(k.ID)
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(norm(later)) {
			t.Errorf("LastUsedAt = %v, want %v (an older activity does not move it back)", got.LastUsedAt, norm(later))
		}
	})

	t.Run("Networks", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := f.clinic("A")
		k, other := f.key("k", c.ID), f.key("other", c.ID)
		nets, err := f.s.KeyNetworks(f.ctx, k.ID)
		must(t, "KeyNetworks", err)
		if len(nets) != 0 {
			t.Errorf("KeyNetworks of a new key: %v, want none", nets)
		}
		for _, n := range []string{"192.0.2.0/24", "2001:db8::/48", "192.0.2.0/24"} {
			must(t, "AddKeyNetwork", f.s.AddKeyNetwork(f.ctx, k.ID, n, f.tick()))
		}
		must(t, "AddKeyNetwork", f.s.AddKeyNetwork(f.ctx, other.ID, "198.51.100.0/24", f.tick()))
		nets, err = f.s.KeyNetworks(f.ctx, k.ID)
		must(t, "KeyNetworks", err)
		slices.Sort(nets)
		equal(t, "KeyNetworks (each once, the key's own)", nets, []string{"192.0.2.0/24", "2001:db8::/48"})
	})

	t.Run("Prefixes", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := f.clinic("A")
		k, revoked := f.key("k", c.ID), f.key("revoked", c.ID)
		_, err := f.s.RevokeAPIKey(f.ctx, revoked.ID, f.tick())
		must(t, "RevokeAPIKey", err)
		got, err := f.s.KeyPrefixes(f.ctx)
		must(t, "KeyPrefixes", err)
		equal(t, "KeyPrefixes (usable keys only)", got, map[string]string{k.Prefix: k.ID})
	})

	t.Run("SecurityEvents", func(t *testing.T) {
		f := newFixture(t, newStore)
		var evs []*novamed.SecurityEvent
		for i, rule := range []string{novamed.RuleNewNetwork, novamed.RuleRateSpike, novamed.RuleRevokedKeyUse} {
			ev := &novamed.SecurityEvent{ID: uuid.NewString(), At: f.tick(), Rule: rule, KeyID: uuid.NewString(), ClientAddr: "192.0.2.9",
				Detail: map[string]any{"network": "192.0.2.0/24", "count": float64(i)}}
			var rec *novamed.AuditRecord
			if i == 0 {
				rec = f.auditRecord("security_event."+rule, ev.At)
			}
			must(t, "RecordSecurityEvent", f.s.RecordSecurityEvent(f.ctx, ev, rec))
			stored := *ev
			stored.At = norm(ev.At)
			evs = append(evs, &stored)
		}
		got, err := f.s.ListSecurityEvents(f.ctx, base, 10)
		must(t, "ListSecurityEvents", err)
		equal(t, "ListSecurityEvents (oldest first)", got, evs)
		got, err = f.s.ListSecurityEvents(f.ctx, evs[1].At, 1)
		must(t, "ListSecurityEvents since the second, limit 1", err)
		equal(t, "ListSecurityEvents since the second, limit 1", got, evs[1:2])
		got, err = f.s.ListSecurityEvents(f.ctx, evs[2].At.Add(time.Microsecond), 10)
		must(t, "ListSecurityEvents after the last", err)
		if got == nil || len(got) != 0 {
			t.Errorf("ListSecurityEvents after the last: %#v, want an empty list", got)
		}
		// The audit record is stored with its event.
		recs := f.scanAudit(base, at(24*time.Hour))
		if len(recs) != 1 || recs[0].Action != "security_event."+novamed.RuleNewNetwork {
			t.Errorf("audit records after RecordSecurityEvent: %d, want the one recorded with the first event", len(recs))
		}
	})
}
