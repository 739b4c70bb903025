package usage

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

var testRules = Rules{RateFactor: 10, RateMinimum: 100, RateWarmup: 3, PrefixFailures: 5}.withDefaults()

func TestRateSpikeRule(t *testing.T) {
	t.Parallel()
	st := &keyState{}
	// Three quiet windows of 5 requests build the baseline.
	for w := int64(0); w < 3; w++ {
		for i := 0; i < 5; i++ {
			st.observe(w)
			if st.spike(w, testRules) {
				t.Fatalf("spike during warm-up, window %d", w)
			}
		}
	}
	// Window 3: 100 requests is 20× a baseline of 5: the 100th fires, once.
	fired := 0
	for i := 1; i <= 150; i++ {
		st.observe(3)
		if st.spike(3, testRules) {
			fired++
			if i != 100 {
				t.Errorf("fired at request %d, want at the 100th (RateMinimum)", i)
			}
		}
	}
	if fired != 1 {
		t.Errorf("fired %d times in one window, want once", fired)
	}
	// A later window at the same pace judges against the raised baseline.
	for i := 0; i < 60; i++ {
		st.observe(4)
		if st.spike(4, testRules) {
			t.Fatal("60 requests after a 150-request window is not a spike")
		}
	}
}

func TestRateSpikeNeedsWarmupAndMinimum(t *testing.T) {
	t.Parallel()
	st := &keyState{}
	for i := 0; i < 500; i++ {
		st.observe(0)
		if st.spike(0, testRules) {
			t.Fatal("a key with no history fired")
		}
	}
	quiet := &keyState{}
	for w := int64(0); w < 5; w++ {
		quiet.observe(w) // one request a window: baseline about 1
	}
	for i := 0; i < 99; i++ {
		quiet.observe(5)
		if quiet.spike(5, testRules) {
			t.Fatalf("fired below RateMinimum at %d requests", quiet.count)
		}
	}
}

func TestNewNetworkRule(t *testing.T) {
	t.Parallel()
	st := &keyState{networks: map[string]bool{}}
	if unknown, alert := st.addNetwork("192.0.2.0/24"); !unknown || alert {
		t.Errorf("a key's first network: unknown=%v alert=%v, want true false", unknown, alert)
	}
	if unknown, alert := st.addNetwork("192.0.2.0/24"); unknown || alert {
		t.Errorf("a known network: unknown=%v alert=%v", unknown, alert)
	}
	if unknown, alert := st.addNetwork("198.51.100.0/24"); !unknown || !alert {
		t.Errorf("a second network: unknown=%v alert=%v, want true true", unknown, alert)
	}
	for client, want := range map[string]string{
		"192.0.2.77": "192.0.2.0/24", "::ffff:192.0.2.9": "192.0.2.0/24",
		"2001:db8:1:2::5": "2001:db8:1::/48", "not an address": "",
	} {
		if got := networkOf(client); got != want {
			t.Errorf("networkOf(%q) = %q, want %q", client, got, want)
		}
	}
}

func TestPrefixFailureRule(t *testing.T) {
	t.Parallel()
	b := &burstState{}
	for i := 1; i <= 8; i++ {
		if got := b.failed(7, 5); got != (i == 5) {
			t.Errorf("failure %d of window 7: fired=%v", i, got)
		}
	}
	// A new window starts the count again.
	for i := 1; i <= 5; i++ {
		if got := b.failed(8, 5); got != (i == 5) {
			t.Errorf("failure %d of window 8: fired=%v", i, got)
		}
	}
}

func TestRolledKeyRule(t *testing.T) {
	t.Parallel()
	used := time.Now()
	if successorInUse(&novamed.APIKey{}, false) {
		t.Error("a successor never used fired")
	}
	if !successorInUse(&novamed.APIKey{LastUsedAt: &used}, false) {
		t.Error("a successor used elsewhere did not fire")
	}
	if !successorInUse(&novamed.APIKey{}, true) {
		t.Error("a successor used here since the last flush did not fire")
	}
}

func TestRevokedKeyRule(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	on := &Recorder{log: log, now: time.Now, rules: testRules, events: make(chan *novamed.SecurityEvent, 1)}
	on.RevokedKeyUsed(&novamed.APIKey{ID: "k1"}, "192.0.2.1")
	select {
	case ev := <-on.events:
		if ev.Rule != novamed.RuleRevokedKeyUse || ev.KeyID != "k1" || ev.ClientAddr != "192.0.2.1" {
			t.Errorf("event %+v", ev)
		}
	default:
		t.Error("a revoked key's use raised no event")
	}
	off := testRules
	off.Disabled = map[string]bool{novamed.RuleRevokedKeyUse: true}
	r := &Recorder{log: log, now: time.Now, rules: off, events: make(chan *novamed.SecurityEvent, 1)}
	r.RevokedKeyUsed(&novamed.APIKey{ID: "k1"}, "192.0.2.1")
	if len(r.events) != 0 {
		t.Error("a disabled rule raised an event")
	}
}
