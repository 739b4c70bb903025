package server

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/novamed/partner-api/internal/auditarchive"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// ArchiveFlags are the audit archive settings a command gave ("" where it
// gave none); what it leaves out comes from what serve recorded in the
// database, else the defaults.
type ArchiveFlags struct {
	Archive, Segment, RetainLive, RetainArchive string
}

// ResolveArchive resolves the archive settings of a store opened in
// dataDir: flags, else what serve recorded, else the defaults (serving:
// flags, else the defaults, which serve then records). It returns the
// archive configuration and the settings to record.
func ResolveArchive(ctx context.Context, f ArchiveFlags, dataDir string, store *sqlstore.Store, serving bool) (auditarchive.Config, map[string]string, error) {
	cfg := auditarchive.Config{Store: store}
	rec, err := store.AuditSettings(ctx)
	if err != nil {
		return cfg, nil, err
	}
	pick := func(flagVal, name, def string) string {
		if flagVal != "" {
			return flagVal
		}
		if v := rec[name]; v != "" && !serving {
			return v
		}
		return def
	}
	def := "off"
	if store.Dialect() == sqlstore.SQLite {
		abs, err := filepath.Abs(filepath.Join(dataDir, "audit-archive"))
		if err != nil {
			return cfg, nil, err
		}
		def = "file://" + filepath.ToSlash(abs)
	}
	set := map[string]string{
		auditarchive.SettingArchive:       pick(f.Archive, auditarchive.SettingArchive, def),
		auditarchive.SettingSegment:       pick(f.Segment, auditarchive.SettingSegment, "24h,64MB"),
		auditarchive.SettingRetainLive:    pick(f.RetainLive, auditarchive.SettingRetainLive, "30d"),
		auditarchive.SettingRetainArchive: pick(f.RetainArchive, auditarchive.SettingRetainArchive, "6y"),
	}
	if u := set[auditarchive.SettingArchive]; u != "off" {
		if err := auditarchive.CheckURL(u); err != nil {
			return cfg, nil, fmt.Errorf("--audit-archive: %w", err)
		}
		cfg.URL = u
	}
	if cfg.Period, cfg.MaxBytes, err = auditarchive.ParseSegmentSpec(set[auditarchive.SettingSegment]); err != nil {
		return cfg, nil, err
	}
	if cfg.RetainLive, err = auditarchive.ParseDuration(set[auditarchive.SettingRetainLive]); err != nil {
		return cfg, nil, fmt.Errorf("--audit-retain-live: %w", err)
	}
	if cfg.RetainArchive, err = auditarchive.ParseDuration(set[auditarchive.SettingRetainArchive]); err != nil {
		return cfg, nil, fmt.Errorf("--audit-retain-archive: %w", err)
	}
	if cfg.RetainArchive > 0 && cfg.RetainArchive < cfg.RetainLive {
		return cfg, nil, errors.New("--audit-retain-archive must not be shorter than --audit-retain-live")
	}
	return cfg, set, nil
}

// startAuditArchive records the archive settings and runs the archive pass
// in the background every interval until its stop is called. The archiver
// is returned too (nil when the pass did not start), for the console's
// verification of the whole trail.
func startAuditArchive(ctx context.Context, f ArchiveFlags, dataDir string, store *sqlstore.Store, key ed25519.PrivateKey, log *slog.Logger, interval time.Duration) (stop func(), _ *auditarchive.Archiver, err error) {
	if have, want, err := store.SchemaStatus(ctx); err != nil || have < 17 || have < want {
		// Migrations pending: the next start (after `novamed migrate`)
		// runs the archive pass.
		log.Warn("audit archive pass not started: migrations pending")
		return func() {}, nil, nil
	}
	cfg, set, err := ResolveArchive(ctx, f, dataDir, store, true)
	if err != nil {
		return nil, nil, err
	}
	if err := store.SetAuditSettings(ctx, set); err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	cfg.Key, cfg.Log, cfg.Holder = key, log, fmt.Sprintf("serve:%s:%d", host, os.Getpid())
	a, err := auditarchive.Open(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	stopPass := Owned(ctx, func(ctx context.Context) {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if r, err := a.BackgroundPass(ctx); err != nil && ctx.Err() == nil {
				log.Error("audit archive pass failed; retrying at the next pass (nothing unarchived is pruned)", "err", err)
			} else if r.Sealed+r.Archived+r.Pruned+r.Expired > 0 {
				log.Info("audit archive pass", "sealed", r.Sealed, "archived", r.Archived, "pruned", r.Pruned, "expired", r.Expired)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return func() { stopPass(); a.Close() }, a, nil
}
