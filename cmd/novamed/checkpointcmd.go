package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/novamed"
)

// checkpointFileName is where serve appends its signed checkpoints, in the
// data folder.
const checkpointFileName = "checkpoints.jsonl"

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
// one JSON object, for a log store or write-once storage.
func auditCheckpoint(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("audit checkpoint", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	keyFile := registerCheckpointKey(fs, getenv)
	publicKey := fs.Bool("public-key", false, "print the checkpoint public key (for audit verify --checkpoint-public-key) instead")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	env, err := c.environment()
	if err != nil {
		return err
	}
	key, err := c.checkpointKey(env, *keyFile, true)
	if err != nil {
		return err
	}
	if *publicKey {
		pub := key.Public().(ed25519.PublicKey)
		return json.NewEncoder(stdout).Encode(map[string]string{"key_id": audit.CheckpointKeyID(pub), "public_key": base64.StdEncoding.EncodeToString(pub)})
	}
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	cp, err := audit.NewCheckpoint(ctx, store, key, time.Now())
	if err != nil {
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

// checkpointer signs the chain head every interval (and when it starts and
// stops) and ships each checkpoint out of the database: appended to
// DATA_DIR/checkpoints.jsonl, logged, and POSTed to a webhook when one is
// configured.
type checkpointer struct {
	store    novamed.AuditStore
	key      ed25519.PrivateKey
	file     string
	webhook  string
	client   *http.Client
	log      *slog.Logger
	interval time.Duration
}

// once signs and ships one checkpoint.
func (cp *checkpointer) once(ctx context.Context) {
	c, err := audit.NewCheckpoint(ctx, cp.store, cp.key, time.Now())
	if err != nil {
		cp.log.Error("audit checkpoint failed", "err", err)
		return
	}
	cp.log.Info("audit checkpoint", "seq", c.Seq, "head", c.Head, "at", c.At, "key_id", c.KeyID, "sig", c.Sig)
	if err := audit.AppendCheckpointFile(cp.file, c); err != nil {
		cp.log.Error("writing the audit checkpoint file failed", "err", err)
	}
	if cp.webhook != "" {
		if err := cp.post(ctx, c); err != nil {
			cp.log.Error("sending the audit checkpoint to the checkpoint webhook failed", "err", err)
		}
	}
}

func (cp *checkpointer) post(ctx context.Context, c audit.Checkpoint) error {
	body, err := json.Marshal(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cp.webhook, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := cp.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the checkpoint webhook answered %d", resp.StatusCode)
	}
	return nil
}

// run checkpoints at once, every interval, and once more when ctx ends.
func (cp *checkpointer) run(ctx context.Context) {
	cp.once(ctx)
	t := time.NewTicker(cp.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// The closing checkpoint gets its own short deadline.
			final, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			cp.once(final)
			cancel()
			return
		case <-t.C:
			cp.once(ctx)
		}
	}
}
