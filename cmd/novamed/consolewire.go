package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/auditarchive"
	"github.com/novamed/partner-api/internal/console"
	"github.com/novamed/partner-api/internal/httpapi"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
	"github.com/novamed/partner-api/internal/sqlstore"
	"github.com/novamed/partner-api/internal/usage"
)

// consoleFlags are serve's staff console settings.
type consoleFlags struct {
	idle, absolute, reauth time.Duration
}

func (cf *consoleFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.DurationVar(&cf.idle, "console-idle-timeout", durationEnv(getenv, "NOVAMED_CONSOLE_IDLE_TIMEOUT", 15*time.Minute),
		"staff console: sign out after this long without activity (HIPAA automatic log-off)")
	fs.DurationVar(&cf.absolute, "console-session-limit", durationEnv(getenv, "NOVAMED_CONSOLE_SESSION_LIMIT", 12*time.Hour),
		"staff console: sign out this long after signing in, whatever the activity")
	fs.DurationVar(&cf.reauth, "console-reauth-window", durationEnv(getenv, "NOVAMED_CONSOLE_REAUTH_WINDOW", 5*time.Minute),
		"staff console: how recent a password and code check must be before issuing a production key or rotating the master key")
}

func (cf *consoleFlags) check() error {
	if cf.idle < time.Second || cf.absolute < cf.idle || cf.reauth <= 0 {
		return errors.New("--console-idle-timeout must be at least 1s, --console-session-limit at least the idle timeout, --console-reauth-window positive")
	}
	return nil
}

// consoleDeps are what the console is built from.
type consoleDeps struct {
	env                 novamed.Environment
	store               *sqlstore.Store
	audit               *audit.Writer
	log                 *slog.Logger
	metrics             *usage.Metrics
	api                 *httpapi.Server
	addr                string
	keysChanged         func(context.Context)
	useTLS, behindProxy bool
	// checkpointKey signs the console's audit checkpoints; archiver (nil
	// when the archive pass did not start) verifies a trail with segments.
	checkpointKey ed25519.PrivateKey
	archiver      *auditarchive.Archiver
}

// newConsole builds the staff console on the operator service.
func newConsole(cf consoleFlags, d consoleDeps) (*console.Console, error) {
	svc := &operator.Service{Store: d.store, Env: d.env}
	return console.New(console.Config{
		Env: d.env, Sessions: d.store, Store: d.store, Partners: d.store, OnKeysChanged: d.keysChanged, Audit: d.audit, Logger: d.log,
		Accounts: console.OperatorAccounts{Service: svc}, Enrolment: svc, Staff: svc,
		IdleTimeout: cf.idle, AbsoluteTimeout: cf.absolute, ReauthWindow: cf.reauth,
		// Secure everywhere but a development server on loopback HTTP;
		// __Host- whenever the browser talks TLS.
		SecureCookies: d.useTLS || d.behindProxy || d.env == novamed.Production || !loopbackAddr(d.addr),
		HostPrefix:    d.useTLS || d.behindProxy,
		HSTS:          d.useTLS || d.behindProxy,
		ClientAddr:    d.api.ClientAddr,
		Traffic:       func() console.TrafficTotals { return trafficTotals(d.metrics) },
		VerifyAudit:   func(ctx context.Context) (console.AuditCheck, error) { return verifyTrail(ctx, d.store, d.archiver) },
		Checkpoint:    checkpointFunc(d.store, d.checkpointKey),
	})
}

// verifyTrail is `novamed audit verify` for the console: the archive's
// verification (seals, archived segments, live chain) when serve runs the
// archive pass, else the live chain's.
func verifyTrail(ctx context.Context, store *sqlstore.Store, a *auditarchive.Archiver) (console.AuditCheck, error) {
	if a != nil {
		res, err := a.Verify(ctx, nil)
		if res == nil {
			return console.AuditCheck{}, err
		}
		return console.AuditCheck{OK: err == nil, Checked: res.LiveRecords + res.ArchivedRecords, Problems: res.Problems}, nil
	}
	n, err := audit.Verify(ctx, store)
	var broken *audit.BrokenError
	if errors.As(err, &broken) {
		return console.AuditCheck{Checked: n, FirstBadSeq: broken.Seq, Problems: []string{broken.Error()}}, nil
	}
	if err != nil {
		return console.AuditCheck{}, err
	}
	return console.AuditCheck{OK: true, Checked: n}, nil
}

// checkpointFunc signs the chain head as `novamed audit checkpoint` does
// (nil without a key).
func checkpointFunc(store *sqlstore.Store, key ed25519.PrivateKey) func(context.Context) ([]byte, int64, error) {
	if key == nil {
		return nil
	}
	return func(ctx context.Context) ([]byte, int64, error) {
		cp, err := audit.NewCheckpoint(ctx, store, key, time.Now())
		if err != nil {
			return nil, 0, err
		}
		b, err := json.Marshal(cp)
		return append(b, '\n'), cp.Seq, err
	}
}

func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// withConsole serves /console from the console and everything else from
// the API.
func withConsole(api http.Handler, con *console.Console, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if console.Handles(r.URL.Path) {
			ctx, cancel := context.WithTimeout(r.Context(), timeout)
			defer cancel()
			con.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		api.ServeHTTP(w, r)
	})
}

// trafficTotals reads this replica's partner API counters from its
// Prometheus registry.
func trafficTotals(m *usage.Metrics) console.TrafficTotals {
	var t console.TrafficTotals
	if m == nil {
		return t
	}
	fams, err := m.Registry.Gather()
	if err != nil {
		return t
	}
	for _, f := range fams {
		if f.GetName() != "novamed_http_requests_total" {
			continue
		}
		for _, mt := range f.GetMetric() {
			v := mt.GetCounter().GetValue()
			code := label(mt, "code")
			t.Requests += v
			if len(code) == 3 && code[0] == '5' {
				t.ServerErrors += v
			}
			if code == "429" {
				t.RateLimited += v
			}
		}
	}
	return t
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
