package usage

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
)

// Recorder counts per-key usage in memory, flushes it in batches, and
// evaluates the anomaly rules. A nil *Recorder records nothing.
type Recorder struct {
	store   novamed.UsageRecorderStore
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
	syncs  chan chan struct{} // Sync's requests to the loop
	stop   chan struct{}
	done   chan struct{}

	// tasks counts the store lookups the rules start off the request path
	// (a key's networks, a rolled key's successor), under mu; idle is
	// broadcast when it drops to zero. Close and Sync wait for them.
	tasks   int
	idle    *sync.Cond
	closing bool // under mu: no new tasks
}

// NewRecorder starts a recorder and its background loop (batched flushes,
// prefix refreshes, event writes); the caller owns it and must Close it,
// which waits for every goroutine the recorder started.
func NewRecorder(store novamed.UsageRecorderStore, log *slog.Logger, m *Metrics, now func() time.Time, rules Rules) *Recorder {
	if now == nil {
		now = time.Now
	}
	r := &Recorder{store: store, log: log, metrics: m, now: now, rules: rules.withDefaults(),
		counts: map[countKey]int64{}, activity: map[string]novamed.KeyActivity{}, keys: map[string]*keyState{},
		prefixes: map[string]string{}, failures: map[string]*burstState{},
		events: make(chan *novamed.SecurityEvent, 256), syncs: make(chan chan struct{}),
		stop: make(chan struct{}), done: make(chan struct{})}
	r.idle = sync.NewCond(&r.mu)
	go r.loop()
	return r
}

func (r *Recorder) windowOf(t time.Time) int64 { return t.UnixNano() / int64(r.rules.Window) }

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
		case reply := <-r.syncs:
			r.saveQueuedEvents()
			close(reply)
		case <-flush.C:
			if err := r.Flush(context.Background()); err != nil {
				r.log.Error("usage flush failed", "err", err)
			}
		case <-prefixes.C:
			if err := r.RefreshPrefixes(context.Background()); err != nil {
				r.log.Error("loading key prefixes failed", "err", err)
			}
		case <-r.stop:
			r.saveQueuedEvents()
			if err := r.Flush(context.Background()); err != nil {
				r.log.Error("usage flush failed", "err", err)
			}
			return
		}
	}
}

// saveQueuedEvents stores the events waiting in the queue.
func (r *Recorder) saveQueuedEvents() {
	for {
		select {
		case ev := <-r.events:
			r.saveEvent(ev)
		default:
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

// spawn runs task in a goroutine the recorder owns, unless it is closing.
// Called with r.mu held.
func (r *Recorder) spawn(task func()) {
	if r.closing {
		return
	}
	r.tasks++
	go func() {
		defer r.taskDone()
		task()
	}()
}

func (r *Recorder) taskDone() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tasks--
	if r.tasks == 0 {
		r.idle.Broadcast()
	}
}

// waitTasks waits until no rule lookup runs.
func (r *Recorder) waitTasks() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.tasks > 0 {
		r.idle.Wait()
	}
}

// Sync brings the store up to date with what the recorder was told before
// the call: the rules' lookups it started have finished, the security
// events they and the requests raised are stored, and the counters are
// flushed. Without traffic meanwhile, what Sync leaves unstored was never
// going to be stored: a test asserts that something did not happen by
// calling Sync, then looking, instead of waiting for a guessed time.
func (r *Recorder) Sync(ctx context.Context) error {
	if r == nil {
		return nil
	}
	r.waitTasks()
	reply := make(chan struct{})
	select {
	case r.syncs <- reply:
	case <-r.done:
		return errors.New("usage: recorder closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	return r.Flush(ctx)
}

// Close waits for the rules' lookups in flight, then flushes counters and
// pending events and stops the loop: when it returns, no goroutine of the
// recorder runs.
func (r *Recorder) Close() {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.closing = true
	r.mu.Unlock()
	r.waitTasks()
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}
