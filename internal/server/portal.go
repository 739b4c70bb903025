package server

import (
	"context"
	"errors"
	"strings"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/partneruser"
	"github.com/novamed/partner-api/internal/portal"
	"github.com/novamed/partner-api/internal/webhook"
)

// newPortal builds the partner developer portal (issue 24) on the same
// store, audit trail and cookie rules as the staff console; the console's
// idle and absolute limits apply to portal sessions too.
func (s *Server) newPortal(cfg Config, policy webhook.URLPolicy) (*portal.Portal, error) {
	return portal.New(portal.Config{
		Env: cfg.Env, Sessions: s.Store.PortalSessions(), Users: &partneruser.Service{Store: s.Store, Now: cfg.Now}, Store: s.Store,
		Audit: s.Audit, Logger: s.Log, Now: cfg.Now,
		IdleTimeout: cfg.Console.IdleTimeout, AbsoluteTimeout: cfg.Console.SessionLimit,
		SecureCookies: cfg.UseTLS || cfg.BehindProxy || cfg.Env == novamed.Production || !loopbackAddr(cfg.Addr),
		HostPrefix:    cfg.UseTLS || cfg.BehindProxy,
		HSTS:          cfg.UseTLS || cfg.BehindProxy,
		ClientAddr:    s.API.ClientAddr,
		OnKeysChanged: s.keysChanged,
		BaseURL:       cfg.PublicURL,
		RoutesOf:      s.API.RoutesOfAction,
		Webhooks:      s.Store,
		WebhookURL: func(ctx context.Context, raw string) (string, error) {
			u, err := policy.CheckURL(ctx, raw)
			if err != nil {
				return "", errors.New(strings.TrimPrefix(err.Error(), webhook.ErrForbidden.Error()+": "))
			}
			return u.String(), nil
		},
	})
}
