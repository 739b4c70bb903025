package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/novamed/partner-api/internal/httpapi"
	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/server"
)

// keyringPoll is how often serve checks its key file for a new version;
// crypto rotate keeps re-sealing for longer than this after it adds one.
const keyringPoll = server.KeyringPoll

// cryptoRotate adds the key in --new-key-file as the next master key
// version (once: running it again resumes) and re-seals every PHI value
// under it, batch by batch, while servers keep serving.
func cryptoRotate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("crypto rotate", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	newKeyFile := fs.String("new-key-file", "", "file holding the new base64 master key")
	batch := fs.Int("batch", 500, "rows per transaction")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if c.server != "" {
		// Break-glass on the database host; through a server the online
		// way is POST /api/admin/crypto/reencryptions.
		return errServerUnsupported
	}
	if *newKeyFile == "" {
		return errors.New("--new-key-file is required")
	}
	if *batch < 1 || *batch > 10_000 {
		return errors.New("--batch must be from 1 to 10000")
	}
	env, err := c.environment()
	if err != nil {
		return err
	}
	path, _, err := c.keySource(getenv, env)
	if err != nil {
		return err
	}
	if path == "" {
		return errors.New("rotation needs the keyring in a file (--master-key-file): NOVAMED_MASTER_KEY cannot be rewritten; move the key into a file first")
	}
	newKey, err := phi.LoadKeyFile(*newKeyFile)
	if err != nil {
		return err
	}
	keys, err := phi.LoadKeyringFile(path)
	if err != nil {
		return err
	}
	version := uint32(0)
	for v, k := range keys {
		if bytes.Equal(k, newKey) {
			version = v // resuming an interrupted rotation
		}
	}
	added := time.Now()
	if version == 0 {
		version = slices.Max(slices.Collect(maps.Keys(keys))) + 1
		keys[version] = newKey
		if err := phi.ReplaceKeyringFile(path, keys); err != nil {
			return err
		}
	} else if version != slices.Max(slices.Collect(maps.Keys(keys))) {
		return fmt.Errorf("the new key is version v%d of %s but not the newest; refusing to rotate backwards", version, path)
	}
	c.masterKeyFile = path
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	// Running servers notice the new version within keyringPoll and seal new
	// rows under it; until then they may still write the old one, so passes
	// continue until one finds nothing to do after that window.
	total := 0
	for {
		n, err := store.RotatePHI(ctx, *batch)
		total += n
		if err != nil {
			return fmt.Errorf("rotation stopped after %d rows (run the same command again to resume): %w", total, err)
		}
		if n == 0 && time.Since(added) > keyringPoll+time.Second {
			break
		}
		if n == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	// The blind indexes move to the new version too (resumable, online),
	// or a keyring without the old version would miss duplicates.
	reindexed, err := store.ReindexBlind(ctx, *batch)
	if err != nil {
		return fmt.Errorf("re-indexing stopped after %d rows (run the same command again to resume): %w", reindexed, err)
	}
	versions, err := store.SealedVersions(ctx)
	if err != nil {
		return err
	}
	retired, err := store.RetireKeyVersions(ctx)
	if err != nil {
		return err
	}
	text := fmt.Sprintf("PHI re-sealed under master key v%d (%d rows changed, %d blind indexes re-keyed); values by version: %s\n", version, total, reindexed, humanMap(versions, "v"))
	if len(retired) > 0 {
		text += fmt.Sprintf("no data needs versions %s any more: they may now be removed from %s\n", humanVersions(retired), path)
	}
	return emit(stdout, c.json, map[string]any{"version": version, "rotated_rows": total, "reindexed_rows": reindexed,
		"values_by_version": versions, "retired_versions": retired}, text)
}

// cryptoStatus reports how many PHI values each master key version seals
// and the blind indexes' key versions: GET /api/admin/crypto, of --server
// or of the local database (direct mode), printed alike.
func cryptoStatus(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("crypto status", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	return adminCommand(ctx, &c, getenv, stdout, stderr, func(api *adminClient) (any, string, error) {
		var st httpapi.AdminCryptoStatus
		if err := api.do(ctx, "GET", "/api/admin/crypto", nil, &st); err != nil {
			return nil, "", err
		}
		return st, fmt.Sprintf("PHI values by master key version: %s\nblind indexes keyed with v%d (re-index target v%d)\n",
			humanMap(st.ValuesByVersion, "v"), st.BlindIndexVersion, st.BlindIndexTarget), nil
	})
}
