package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/novamed/partner-api/internal/httpapi"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/reencrypt"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// KeyringPoll is how often a server checks its key file for a new version;
// crypto rotate keeps re-sealing for longer than this after it adds one.
const KeyringPoll = 2 * time.Second

// watchKeyring reloads the PHI keyring when its file changes, so that a
// rotation (novamed crypto rotate) reaches a running server within seconds.
func watchKeyring(ctx context.Context, path string, load func() (*phi.Keyring, error), store *sqlstore.Store, log *slog.Logger) {
	stamp := func() string {
		st, err := os.Stat(path)
		if err != nil {
			return ""
		}
		return fmt.Sprint(st.ModTime().UnixNano(), st.Size())
	}
	last := stamp()
	t := time.NewTicker(KeyringPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if now := stamp(); now != last && now != "" {
			ring, err := load()
			if err != nil {
				log.Error("reloading the PHI keyring failed; keeping the old one", "err", err)
				continue
			}
			if err := store.CheckKeyring(ctx, ring); err != nil {
				log.Error("the changed PHI keyring does not fit this database; keeping the old one", "err", err)
				continue
			}
			last = now
			store.SetKeyring(ring)
			log.Info("PHI keyring reloaded", "current_version", ring.CurrentVersion())
		}
	}
}

// followKeyChanges purges the key cache whenever an operator command
// announces a revocation, roll or limit change. While Redis is unreachable
// it keeps retrying; the 1 s key cache expiry bounds the delay meanwhile.
func followKeyChanges(ctx context.Context, rdb *redis.Client, channel string, api *httpapi.Server, log *slog.Logger) {
	for ctx.Err() == nil {
		sub := rdb.Subscribe(ctx, channel)
		if _, err := sub.Receive(ctx); err != nil {
			sub.Close()
			if ctx.Err() == nil {
				log.Warn("key change subscription failed; retrying", "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		api.PurgeKeyCache() // changes may have been missed while disconnected
		ch := sub.Channel()
	listen:
		for {
			select {
			case <-ctx.Done():
				break listen
			case _, ok := <-ch:
				if !ok {
					break listen
				}
				api.PurgeKeyCache()
			}
		}
		sub.Close()
	}
}

// advertiseKeyring records this replica's keyring versions (table
// replica_keyrings) at once and every reencrypt.AdvertiseEvery, which
// also picks up a keyring reloaded by watchKeyring.
func advertiseKeyring(ctx context.Context, store *sqlstore.Store, replica string, now func() time.Time, log *slog.Logger) {
	t := time.NewTicker(reencrypt.AdvertiseEvery)
	defer t.Stop()
	for {
		if err := store.AdvertiseKeyring(ctx, replica, now()); err != nil && ctx.Err() == nil {
			log.Warn("advertising the PHI keyring versions failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
