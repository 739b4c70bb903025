package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/httpapi"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/server"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// checkpointFileName is where serve appends its signed checkpoints, in the
// data folder.
const checkpointFileName = server.CheckpointFileName

// registerCheckpointKey adds --checkpoint-key-file.
func registerCheckpointKey(fs *flag.FlagSet, getenv func(string) string) *string {
	return fs.String("checkpoint-key-file", getenv("NOVAMED_CHECKPOINT_KEY_FILE"),
		"Ed25519 key that signs audit checkpoints (base64 seed; development default: DATA_DIR/checkpoint.key)")
}

// checkpointKey loads the audit checkpoint key: keyFile, else (development
// only) DATA_DIR/checkpoint.key, created when create is set.
func (c *common) checkpointKey(env novamed.Environment, keyFile string, create bool) (ed25519.PrivateKey, error) {
	if keyFile != "" {
		return audit.LoadCheckpointKey(keyFile)
	}
	if env == novamed.Production {
		return nil, errors.New("production needs an audit checkpoint key held outside the database: give --checkpoint-key-file (NOVAMED_CHECKPOINT_KEY_FILE); create one with: head -c 32 /dev/urandom | base64 > checkpoint.key && chmod 600 checkpoint.key")
	}
	path := filepath.Join(c.dataDir, "checkpoint.key")
	key, err := audit.LoadCheckpointKey(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return key, err
	}
	if !create {
		return nil, fmt.Errorf("no audit checkpoint key: %s does not exist (development creates it at the first start; or give --checkpoint-key-file or --checkpoint-public-key)", path)
	}
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	key, err = audit.WriteCheckpointKey(path)
	if errors.Is(err, os.ErrExist) {
		return audit.LoadCheckpointKey(path) // another process made it a moment ago
	}
	return key, err
}

// auditCheckpoint signs the current chain head and prints the checkpoint:
// one JSON object, for a log store or write-once storage (POST
// /api/admin/audit/checkpoints); with --public-key, the key that verifies
// them (GET /api/admin/audit/checkpoint-key). With --server the server
// signs with its own key; in direct mode the in-process server signs with
// --checkpoint-key-file (development: DATA_DIR/checkpoint.key, created if
// missing). Both print the same.
func auditCheckpoint(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit checkpoint", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	keyFile := registerCheckpointKey(fs, getenv)
	publicKey := fs.Bool("public-key", false, "print the checkpoint public key (for audit verify --checkpoint-public-key) instead")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if c.server != "" && explicitFlag(fs, "checkpoint-key-file") != "" {
		return errors.New("--checkpoint-key-file is for direct database mode: with --server the server signs with its own checkpoint key")
	}
	api, err := c.adminAPI(ctx, getenv, stderr, func(_ context.Context, _ *sqlstore.Store, env novamed.Environment, cfg *httpapi.Config) (func(), error) {
		key, err := c.checkpointKey(env, *keyFile, true)
		cfg.CheckpointKey = key
		return func() {}, err
	})
	if err != nil {
		return err
	}
	defer api.close()
	if *publicKey {
		var report map[string]string
		if err := api.do(ctx, "GET", "/api/admin/audit/checkpoint-key", nil, &report); err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(report)
	}
	var cp audit.Checkpoint
	if err := api.do(ctx, "POST", "/api/admin/audit/checkpoints", nil, &cp); err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(cp)
}

// checkpointPublicKey is the key that verifies checkpoints: --checkpoint-public-key,
// else the public half of the configured private key. Never a key named by
// a checkpoint itself.
func (c *common) checkpointPublicKey(env novamed.Environment, keyFile, publicKey string) (ed25519.PublicKey, error) {
	if publicKey != "" {
		return audit.ParseCheckpointPublicKey(publicKey)
	}
	key, err := c.checkpointKey(env, keyFile, false)
	if err != nil {
		return nil, err
	}
	return key.Public().(ed25519.PublicKey), nil
}
