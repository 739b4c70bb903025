package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/novamed"
)

func auditVerify(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	var af auditArchiveFlags // read again by openArchiver when segments exist
	af.register(fs, getenv)
	checkpointFile := fs.String("checkpoint", "", "file of signed checkpoints (one object, or JSON lines such as DATA_DIR/checkpoints.jsonl): the trail must reach and match each")
	keyFile := registerCheckpointKey(fs, getenv)
	publicKey := fs.String("checkpoint-public-key", getenv("NOVAMED_CHECKPOINT_PUBLIC_KEY"), "base64 public key that signed the checkpoints (default: derived from the checkpoint key)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	var pub ed25519.PublicKey
	var cps []audit.Checkpoint
	if *checkpointFile != "" {
		env, err := c.environment()
		if err != nil {
			return err
		}
		if pub, err = c.checkpointPublicKey(env, *keyFile, *publicKey); err != nil {
			return err
		}
		data, err := os.ReadFile(*checkpointFile)
		if err != nil {
			return fmt.Errorf("--checkpoint: %w", err)
		}
		if cps, err = audit.ParseCheckpoints(data); err != nil {
			return fmt.Errorf("--checkpoint %s: %w", *checkpointFile, err)
		}
	}
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	if segs, err := store.AuditSegments(ctx); err != nil {
		return err
	} else if len(segs) > 0 {
		store.Close()
		return auditVerifyArchive(ctx, args, getenv, stdout, cps)
	}
	report, err := audit.VerifyReport(ctx, store, pub, cps)
	if report == nil {
		return err
	}
	if err != nil {
		emit(stdout, c.json, report, "") //nolint:errcheck // the error below matters more
		return err
	}
	return emit(stdout, c.json, report,
		fmt.Sprintf("audit trail intact: %d records (%d signed checkpoints matched)\n", report["checked"], len(cps)))
}

func auditExport(ctx context.Context, args []string, getenv func(string) string, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("audit export", flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	var af auditArchiveFlags // read again by openArchiver when segments exist
	af.register(fs, getenv)
	since := fs.String("since", "", "RFC 3339 time, a date (2026-11-01, UTC) or a duration ago (1h, 7d) (inclusive)")
	until := fs.String("until", "", "RFC 3339 time, a date or a duration ago (exclusive)")
	actor := fs.String("actor", "", "only records whose actor starts with this (operator:, operator:ID, local:, system:sandbox, key:ID)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	var from, to time.Time
	var err error
	now := time.Now()
	if *since != "" {
		if from, err = parseWhen(*since, now); err != nil {
			return fmt.Errorf("--since: %w", err)
		}
	}
	if *until != "" {
		if to, err = parseWhen(*until, now); err != nil {
			return fmt.Errorf("--until: %w", err)
		}
	}
	enc := json.NewEncoder(stdout)
	out := func(rec *novamed.AuditRecord) error {
		if *actor != "" && !strings.HasPrefix(rec.Actor, *actor) {
			return nil
		}
		return enc.Encode(rec)
	}
	if c.server != "" {
		return auditExportRemote(ctx, &c, getenv, from, to, *actor, out)
	}
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer store.Close()
	if base, _, err := store.AuditBase(ctx); err != nil {
		return err
	} else if base > 0 {
		// The oldest records are only in the archive.
		store.Close()
		a, st, _, _, err := openArchiver(ctx, args, "audit export", getenv, false)
		if err != nil {
			return err
		}
		defer st.Close()
		defer a.Close()
		return a.Export(ctx, from, to, out)
	}
	return store.ScanAudit(ctx, from, to, out)
}

// auditVerifyArchive is audit verify of a trail with sealed segments: the
// seals, the archive and the live trail.
func auditVerifyArchive(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, cps []audit.Checkpoint) error {
	a, store, c, _, err := openArchiver(ctx, args, "audit verify", getenv, false)
	if err != nil {
		return err
	}
	defer store.Close()
	defer a.Close()
	out, err := a.VerifyReport(ctx, cps)
	if out == nil {
		return err
	}
	if err != nil {
		emit(stdout, c.json, out, "") //nolint:errcheck // the error below matters more
		return err
	}
	return emit(stdout, c.json, out, fmt.Sprintf("audit trail intact: %d records (%d live, %d in %d archived segments of %d sealed; %d signed checkpoints matched)\n",
		out["checked"], out["live"], out["archived"], out["archived_segments"], out["segments"], out["checkpoints"]))
}

// auditExportRemote is audit export with --server: the same JSON lines,
// from the server's admin API (GET /api/admin/audit, page by page). In
// direct mode the command reads the database and the archive itself,
// which only the database host can.
func auditExportRemote(ctx context.Context, c *common, getenv func(string) string, from, to time.Time, actor string, out func(*novamed.AuditRecord) error) error {
	api, err := c.adminClient(getenv)
	if err != nil {
		return err
	}
	q := url.Values{}
	if !from.IsZero() {
		q.Set("since", from.Format(time.RFC3339Nano))
	}
	if !to.IsZero() {
		q.Set("until", to.Format(time.RFC3339Nano))
	}
	if actor != "" {
		q.Set("actor", actor)
	}
	for {
		var page struct {
			Records    []*novamed.AuditRecord `json:"records"`
			Truncated  bool                   `json:"truncated"`
			NextCursor string                 `json:"next_cursor"`
		}
		if err := api.do(ctx, "GET", "/api/admin/audit?"+q.Encode(), nil, &page); err != nil {
			return err
		}
		for _, rec := range page.Records {
			if err := out(rec); err != nil {
				return err
			}
		}
		if page.NextCursor == "" {
			if page.Truncated {
				return errors.New("the server answered only the first part of this window (truncated): narrow it with --since/--until")
			}
			return nil
		}
		q.Set("cursor", page.NextCursor)
	}
}
