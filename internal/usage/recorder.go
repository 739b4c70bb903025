package usage

import (
	"context"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
)

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

// Recorder counts per-key usage in memory, flushes it in batches, and
// evaluates the anomaly rules. A nil *Recorder records nothing.
type Recorder struct {
	store   novamed.Store
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time
	rules   Rules

	mu       sync.Mutex
	counts   map[countKey]int64
	activity map[string]novamed.KeyActivity
	keys     map[string]*keyState   // per key id
	prefixes map[string]string      // display prefix → key id
	failures map[string]*burstState // per prefix

	events chan *novamed.SecurityEvent
	stop   chan struct{}
	done   chan struct{}
}

type countKey struct{ key, day, route, class string }

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

// NewRecorder starts a recorder; Close flushes and stops it.
func NewRecorder(store novamed.Store, log *slog.Logger, m *Metrics, now func() time.Time, rules Rules) *Recorder {
	if now == nil {
		now = time.Now
	}
	r := &Recorder{store: store, log: log, metrics: m, now: now, rules: rules.withDefaults(),
		counts: map[countKey]int64{}, activity: map[string]novamed.KeyActivity{}, keys: map[string]*keyState{},
		prefixes: map[string]string{}, failures: map[string]*burstState{},
		events: make(chan *novamed.SecurityEvent, 256), stop: make(chan struct{}), done: make(chan struct{})}
	go r.loop()
	return r
}

func (r *Recorder) windowOf(t time.Time) int64 { return t.UnixNano() / int64(r.rules.Window) }

func statusClass(status int) string { return strconv.Itoa(status/100) + "xx" }

// Request counts an authenticated request of key on route with its status.
func (r *Recorder) Request(keyID, route string, status int, client string) {
	if r == nil {
		return
	}
	now := r.now().UTC()
	r.mu.Lock()
	r.counts[countKey{keyID, now.Format(time.DateOnly), route, statusClass(status)}]++
	r.activity[keyID] = novamed.KeyActivity{KeyID: keyID, LastUsedAt: now, LastClient: client}
	r.mu.Unlock()
}

// RateLimited counts a request of key refused by its limit.
func (r *Recorder) RateLimited(keyID string) {
	if r == nil {
		return
	}
	now := r.now().UTC()
	r.mu.Lock()
	r.counts[countKey{keyID, now.Format(time.DateOnly), novamed.RouteRateLimited, "429"}]++
	r.mu.Unlock()
	r.metrics.RateLimited()
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
	// Rate: close finished windows into the baseline.
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
	r.prefixes[key.Prefix] = key.ID
	if r.enabled(novamed.RuleRateSpike) && st.history >= r.rules.RateWarmup && st.firedWindow != w &&
		st.count >= r.rules.RateMinimum && float64(st.count) > r.rules.RateFactor*max(st.baseline, 1) {
		st.firedWindow = w
		fire = append(fire, r.event(novamed.RuleRateSpike, key.ID, client, map[string]any{
			"requests_in_window": st.count, "baseline": int(st.baseline + 0.5), "window": r.rules.Window.String()}))
	}
	// Networks: judged once the key's history is loaded.
	loadNetworks := false
	if network != "" && r.enabled(novamed.RuleNewNetwork) {
		switch {
		case st.networks == nil && !st.loading:
			st.loading, loadNetworks = true, true
		case st.networks != nil && !st.networks[network]:
			if len(st.networks) > 0 {
				fire = append(fire, r.event(novamed.RuleNewNetwork, key.ID, client, map[string]any{"network": network}))
			}
			st.networks[network] = true
			go r.rememberNetwork(key.ID, network, now)
		}
	}
	checkRolled := key.ReplacedBy != "" && r.enabled(novamed.RuleRolledKeyUse) && now.Sub(st.rolledCheck) >= r.rules.Window
	if checkRolled {
		st.rolledCheck = now
	}
	r.mu.Unlock()
	if loadNetworks {
		go r.loadNetworks(key.ID, network, now)
	}
	if checkRolled {
		go r.checkRolled(key, client)
	}
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
		if b == nil || b.window != w {
			b = &burstState{window: w}
			r.failures[prefix] = b
		}
		b.count++
		if b.count >= r.rules.PrefixFailures && !b.fired && r.enabled(novamed.RulePrefixFailures) {
			b.fired = true
			ev = r.event(novamed.RulePrefixFailures, keyID, client, map[string]any{"failures_in_window": b.count, "window": r.rules.Window.String()})
		}
	}
	r.mu.Unlock()
	if ev != nil {
		r.emit(ev)
	}
}

func (r *Recorder) enabled(rule string) bool { return !r.rules.Disabled[rule] }

func (r *Recorder) event(rule, keyID, client string, detail map[string]any) *novamed.SecurityEvent {
	return &novamed.SecurityEvent{ID: uuid.Must(uuid.NewV7()).String(), At: r.now().UTC().Truncate(time.Microsecond),
		Rule: rule, KeyID: keyID, ClientAddr: client, Detail: detail}
}

// emit hands an event to the background writer (never blocking a request
// for long: if the queue is full the event is logged and counted anyway).
func (r *Recorder) emit(ev *novamed.SecurityEvent) {
	r.metrics.SecurityEvent(ev.Rule)
	r.log.Warn("security event", "rule", ev.Rule, "key_id", ev.KeyID, "client", ev.ClientAddr, "event_id", ev.ID)
	select {
	case r.events <- ev:
	default:
		r.log.Error("security event queue full; event not stored", "event_id", ev.ID, "rule", ev.Rule)
	}
}

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
	known := st.networks[network]
	history := len(st.networks) > 0
	st.networks[network] = true
	r.mu.Unlock()
	if !known {
		if history {
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
	if next.LastUsedAt != nil || usedHere {
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

// Flush writes the counters gathered since the last flush.
func (r *Recorder) Flush(ctx context.Context) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	counts, activity := r.counts, r.activity
	r.counts, r.activity = map[countKey]int64{}, map[string]novamed.KeyActivity{}
	r.mu.Unlock()
	if len(counts) == 0 && len(activity) == 0 {
		return nil
	}
	cs := make([]novamed.UsageCount, 0, len(counts))
	for k, n := range counts {
		cs = append(cs, novamed.UsageCount{KeyID: k.key, Day: k.day, Route: k.route, StatusClass: k.class, Count: n})
	}
	as := make([]novamed.KeyActivity, 0, len(activity))
	for _, a := range activity {
		as = append(as, a)
	}
	if err := r.store.AddUsage(ctx, cs, as); err != nil {
		// Put them back so the next flush retries them.
		r.mu.Lock()
		for k, n := range counts {
			r.counts[k] += n
		}
		for id, a := range activity {
			if cur, ok := r.activity[id]; !ok || cur.LastUsedAt.Before(a.LastUsedAt) {
				r.activity[id] = a
			}
		}
		r.mu.Unlock()
		if r.metrics != nil {
			r.metrics.usageFlushErrors.Inc()
		}
		return err
	}
	return nil
}

// RefreshPrefixes reloads the display prefixes of real keys.
func (r *Recorder) RefreshPrefixes(ctx context.Context) error {
	p, err := r.store.KeyPrefixes(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.prefixes = p
	r.mu.Unlock()
	return nil
}

func (r *Recorder) loop() {
	defer close(r.done)
	flush := time.NewTicker(5 * time.Second)
	defer flush.Stop()
	prefixes := time.NewTicker(10 * time.Second)
	defer prefixes.Stop()
	if err := r.RefreshPrefixes(context.Background()); err != nil {
		r.log.Error("loading key prefixes failed", "err", err)
	}
	for {
		select {
		case ev := <-r.events:
			r.saveEvent(ev)
		case <-flush.C:
			if err := r.Flush(context.Background()); err != nil {
				r.log.Error("usage flush failed", "err", err)
			}
		case <-prefixes.C:
			if err := r.RefreshPrefixes(context.Background()); err != nil {
				r.log.Error("loading key prefixes failed", "err", err)
			}
		case <-r.stop:
			for {
				select {
				case ev := <-r.events:
					r.saveEvent(ev)
					continue
				default:
				}
				break
			}
			if err := r.Flush(context.Background()); err != nil {
				r.log.Error("usage flush failed", "err", err)
			}
			return
		}
	}
}

func (r *Recorder) saveEvent(ev *novamed.SecurityEvent) {
	rec := &novamed.AuditRecord{Time: ev.At, RequestID: "security-" + ev.ID, KeyID: ev.KeyID, Action: "security." + ev.Rule,
		ClientAddr: ev.ClientAddr, Status: 0}
	if err := r.store.RecordSecurityEvent(context.Background(), ev, rec); err != nil {
		r.log.Error("storing a security event failed", "event_id", ev.ID, "err", err)
	}
}

// Close flushes counters and pending events and stops the recorder.
func (r *Recorder) Close() {
	if r == nil {
		return
	}
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}
