package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/novamed"
)

// CheckpointFileName is where serve appends its signed checkpoints, in the
// data folder.
const CheckpointFileName = "checkpoints.jsonl"

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
