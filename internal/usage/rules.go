package usage

import (
	"context"
	"net/netip"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// The anomaly rules: the per-key and per-prefix state each rule keeps,
// the rules' judgements as methods of that state (unit-tested without a
// store in rules_test.go), and the Recorder's entry points that apply them
// to requests.

// Rules configure the anomaly detection (see docs/operations.md).
type Rules struct {
	// Window is the time unit of the rate and burst rules (default 1 min).
	Window time.Duration
	// RateFactor: a key doing more than RateFactor × its baseline requests
	// in one window, and at least RateMinimum, is a spike (defaults 10, 100).
	RateFactor  float64
	RateMinimum int
	// RateWarmup is how many windows of history a key needs before the rate
	// rule judges it (default 3).
	RateWarmup int
	// PrefixFailures 401s in one window carrying a real key's prefix fire
	// the burst rule (default 5).
	PrefixFailures int
	// Disabled rules are not evaluated.
	Disabled map[string]bool
}

func (r Rules) withDefaults() Rules {
	if r.Window <= 0 {
		r.Window = time.Minute
	}
	if r.RateFactor <= 0 {
		r.RateFactor = 10
	}
	if r.RateMinimum <= 0 {
		r.RateMinimum = 100
	}
	if r.RateWarmup <= 0 {
		r.RateWarmup = 3
	}
	if r.PrefixFailures <= 0 {
		r.PrefixFailures = 5
	}
	return r
}

type keyState struct {
	networks    map[string]bool // nil until loaded
	loading     bool
	window      int64 // index of the current window
	count       int   // requests in it
	baseline    float64
	history     int // completed windows seen
	firedWindow int64
	rolledCheck time.Time
}

type burstState struct {
	window int64
	count  int
	fired  bool
}

// observe counts a request in window w, first closing the windows since
// the last request into the baseline (an exponential moving average; a
// long gap counts at most 10 empty windows).
func (st *keyState) observe(w int64) {
	if w != st.window {
		missed := w - st.window
		for i := int64(0); i < missed && i < 10; i++ {
			c := 0.0
			if i == 0 {
				c = float64(st.count)
			}
			if st.history == 0 {
				st.baseline = c
			} else {
				st.baseline = 0.7*st.baseline + 0.3*c
			}
			st.history++
		}
		st.window, st.count = w, 0
	}
	st.count++
}

// spike is the rate rule: after RateWarmup windows of history, a window
// with at least RateMinimum requests and more than RateFactor times the
// baseline fires, once per window.
func (st *keyState) spike(w int64, rules Rules) bool {
	if st.history < rules.RateWarmup || st.firedWindow == w ||
		st.count < rules.RateMinimum || float64(st.count) <= rules.RateFactor*max(st.baseline, 1) {
		return false
	}
	st.firedWindow = w
	return true
}

// addNetwork is the new-network rule on a key whose networks are loaded:
// it records network and reports whether it was unknown, and whether that
// is an alert (a key's first network is not).
func (st *keyState) addNetwork(network string) (unknown, alert bool) {
	if st.networks[network] {
		return false, false
	}
	alert = len(st.networks) > 0
	st.networks[network] = true
	return true, alert
}

// failed is the prefix-failure burst rule: a failure in window w; the
// threshold-th failure of one window fires, once per window.
func (b *burstState) failed(w int64, threshold int) bool {
	if b.window != w {
		*b = burstState{window: w}
	}
	b.count++
	if b.count >= threshold && !b.fired {
		b.fired = true
		return true
	}
	return false
}

// successorInUse is the rolled-key rule: an old key used after its
// successor has been used (anywhere, or by this replica since the last
// flush) fires.
func successorInUse(next *novamed.APIKey, usedHere bool) bool {
	return next.LastUsedAt != nil || usedHere
}

// KeyUsed evaluates the rules that watch a successfully authenticated key:
// a new client network, a rate far above its baseline, and an old key used
// after its successor.
func (r *Recorder) KeyUsed(key *novamed.APIKey, client string) {
	if r == nil {
		return
	}
	now := r.now()
	network := networkOf(client)
	w := r.windowOf(now)
	var fire []*novamed.SecurityEvent
	r.mu.Lock()
	st := r.keys[key.ID]
	if st == nil {
		st = &keyState{window: w}
		r.keys[key.ID] = st
	}
	st.observe(w)
	r.prefixes[key.Prefix] = key.ID
	if r.enabled(novamed.RuleRateSpike) && st.spike(w, r.rules) {
		fire = append(fire, r.event(novamed.RuleRateSpike, key.ID, client, map[string]any{
			"requests_in_window": st.count, "baseline": int(st.baseline + 0.5), "window": r.rules.Window.String()}))
	}
	// Networks: judged once the key's history is loaded.
	loadNetworks := false
	if network != "" && r.enabled(novamed.RuleNewNetwork) {
		switch {
		case st.networks == nil && !st.loading:
			st.loading, loadNetworks = true, true
		case st.networks != nil:
			if unknown, alert := st.addNetwork(network); unknown {
				if alert {
					fire = append(fire, r.event(novamed.RuleNewNetwork, key.ID, client, map[string]any{"network": network}))
				}
				r.spawn(func() { r.rememberNetwork(key.ID, network, now) })
			}
		}
	}
	checkRolled := key.ReplacedBy != "" && r.enabled(novamed.RuleRolledKeyUse) && now.Sub(st.rolledCheck) >= r.rules.Window
	if checkRolled {
		st.rolledCheck = now
	}
	if loadNetworks {
		r.spawn(func() { r.loadNetworks(key.ID, network, now) })
	}
	if checkRolled {
		r.spawn(func() { r.checkRolled(key, client) })
	}
	r.mu.Unlock()
	for _, ev := range fire {
		r.emit(ev)
	}
}

// RevokedKeyUsed reports a request with a key that was revoked.
func (r *Recorder) RevokedKeyUsed(key *novamed.APIKey, client string) {
	if r == nil {
		return
	}
	if r.enabled(novamed.RuleRevokedKeyUse) {
		r.emit(r.event(novamed.RuleRevokedKeyUse, key.ID, client, map[string]any{"revoked_at": key.RevokedAt}))
	}
}

// AuthFailure notes a failed authentication with a key of this display
// prefix; if the prefix is a real key's, it counts against that key and may
// fire the burst rule.
func (r *Recorder) AuthFailure(prefix, client string) {
	if r == nil {
		return
	}
	now := r.now().UTC()
	w := r.windowOf(now)
	r.mu.Lock()
	keyID, ok := r.prefixes[prefix]
	var ev *novamed.SecurityEvent
	if ok {
		r.counts[countKey{keyID, now.Format(time.DateOnly), novamed.RouteAuthFailure, "401"}]++
		b := r.failures[prefix]
		if b == nil {
			b = &burstState{window: w}
			r.failures[prefix] = b
		}
		if b.failed(w, r.rules.PrefixFailures) && r.enabled(novamed.RulePrefixFailures) {
			ev = r.event(novamed.RulePrefixFailures, keyID, client, map[string]any{"failures_in_window": b.count, "window": r.rules.Window.String()})
		}
	}
	r.mu.Unlock()
	if ev != nil {
		r.emit(ev)
	}
}

func (r *Recorder) enabled(rule string) bool { return !r.rules.Disabled[rule] }

func (r *Recorder) loadNetworks(keyID, network string, now time.Time) {
	nets, err := r.store.KeyNetworks(context.Background(), keyID)
	r.mu.Lock()
	st := r.keys[keyID]
	st.loading = false
	if err != nil {
		r.mu.Unlock()
		r.log.Error("loading key networks failed", "key_id", keyID, "err", err)
		return
	}
	st.networks = map[string]bool{}
	for _, n := range nets {
		st.networks[n] = true
	}
	unknown, alert := st.addNetwork(network)
	r.mu.Unlock()
	if unknown {
		if alert {
			r.emit(r.event(novamed.RuleNewNetwork, keyID, "", map[string]any{"network": network}))
		}
		r.rememberNetwork(keyID, network, now)
	}
}

func (r *Recorder) rememberNetwork(keyID, network string, at time.Time) {
	if err := r.store.AddKeyNetwork(context.Background(), keyID, network, at); err != nil {
		r.log.Error("recording a key network failed", "key_id", keyID, "err", err)
	}
}

// checkRolled fires when an old key is used after its successor was used.
func (r *Recorder) checkRolled(key *novamed.APIKey, client string) {
	next, err := r.store.GetAPIKey(context.Background(), key.ReplacedBy)
	if err != nil {
		return
	}
	r.mu.Lock()
	_, usedHere := r.activity[next.ID]
	r.mu.Unlock()
	if successorInUse(next, usedHere) {
		r.emit(r.event(novamed.RuleRolledKeyUse, key.ID, client, map[string]any{"successor_key_id": next.ID, "grace_until": key.ExpiresAt}))
	}
}

// networkOf is the client's /24 (IPv4) or /48 (IPv6).
func networkOf(client string) string {
	a, err := netip.ParseAddr(client)
	if err != nil {
		return ""
	}
	a = a.Unmap()
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}
