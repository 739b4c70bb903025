package server

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/auditarchive"
	"github.com/novamed/partner-api/internal/console"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/operator"
	"github.com/novamed/partner-api/internal/partneruser"
	"github.com/novamed/partner-api/internal/sqlstore"
	"github.com/novamed/partner-api/internal/usage"
)

// newConsole builds the staff console on the operator service. archiver
// (nil when the archive pass did not start) verifies a trail with
// segments.
func (s *Server) newConsole(cfg Config, archiver *auditarchive.Archiver) (*console.Console, error) {
	svc := &operator.Service{Store: s.Store, Env: cfg.Env}
	return console.New(console.Config{
		Env: cfg.Env, Sessions: s.Store.ConsoleSessions(), Store: s.Store, Partners: s.Store, OnKeysChanged: s.keysChanged, Audit: s.Audit, Logger: s.Log,
		Accounts: console.OperatorAccounts{Service: svc}, Enrolment: svc, Staff: svc, PartnerUsers: &partneruser.Service{Store: s.Store, Now: cfg.Now},
		IdleTimeout: cfg.Console.IdleTimeout, AbsoluteTimeout: cfg.Console.SessionLimit, ReauthWindow: cfg.Console.ReauthWindow,
		// Secure everywhere but a development server on loopback HTTP;
		// __Host- whenever the browser talks TLS.
		SecureCookies: cfg.UseTLS || cfg.BehindProxy || cfg.Env == novamed.Production || !loopbackAddr(cfg.Addr),
		HostPrefix:    cfg.UseTLS || cfg.BehindProxy,
		HSTS:          cfg.UseTLS || cfg.BehindProxy,
		ClientAddr:    s.API.ClientAddr,
		Traffic:       func() console.TrafficTotals { return trafficTotals(s.Metrics) },
		VerifyAudit:   func(ctx context.Context) (console.AuditCheck, error) { return verifyTrail(ctx, s.Store, archiver) },
		Checkpoint:    checkpointFunc(s.Store, cfg.Checkpoint.Key),
		Now:           cfg.Now,
		Reencrypt:     s.Reencrypt,
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

// keysChanged is what the console calls after it changed keys: this
// replica purges at once, the others through the key-change channel.
func (s *Server) keysChanged(ctx context.Context) {
	s.API.PurgeKeyCache()
	s.announceKeyChange(ctx)
}

// announceKeyChange tells the other replicas that keys changed (a
// speed-up: without Redis the key cache expiry bounds the delay).
func (s *Server) announceKeyChange(ctx context.Context) {
	if s.redis == nil {
		return
	}
	if err := s.redis.Publish(ctx, s.keysChannel, "purge").Err(); err != nil {
		s.Log.Warn("announcing a key change failed; other replicas catch up within the key cache TTL", "err", err)
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
