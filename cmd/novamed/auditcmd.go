package main

import (
	"bytes"
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
	publicKey := fs.String("checkpoint-public-key", getenv("NOVAMED_CHECKPOINT_PUBLIC_KEY"), "base64 public key that signed the checkpoints (default: derived from the checkpoint key; with --server: must be the server's)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	var pub ed25519.PublicKey
	var cps []audit.Checkpoint
	if *checkpointFile != "" {
		data, err := os.ReadFile(*checkpointFile)
		if err != nil {
			return fmt.Errorf("--checkpoint: %w", err)
		}
		if cps, err = audit.ParseCheckpoints(data); err != nil {
			return fmt.Errorf("--checkpoint %s: %w", *checkpointFile, err)
		}
		if c.server == "" {
			env, err := c.environment()
			if err != nil {
				return err
			}
			if pub, err = c.checkpointPublicKey(env, *keyFile, *publicKey); err != nil {
				return err
			}
		}
	}
	if c.server != "" {
		return auditVerifyRemote(ctx, &c, getenv, stdout, cps, *publicKey)
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
	return printVerifyReport(stdout, c.json, report, err)
}

// auditVerifyRemote is audit verify with --server: the server verifies its
// trail (with its archive when segments are sealed) against the given
// checkpoints and its own checkpoint key (POST /api/admin/audit/verify);
// the report prints as direct mode prints it. The database, the archive
// and the checkpoint key stay on the database host.
func auditVerifyRemote(ctx context.Context, c *common, getenv func(string) string, stdout io.Writer, cps []audit.Checkpoint, publicKey string) error {
	api, err := c.adminClient(getenv)
	if err != nil {
		return err
	}
	if publicKey != "" && cps != nil {
		// The server checks the checkpoints with its key: a key named here
		// must be that one, or the check would not be the one asked for.
		var key struct {
			KeyID     string `json:"key_id"`
			PublicKey string `json:"public_key"`
		}
		if err := api.do(ctx, "GET", "/api/admin/audit/checkpoint-key", nil, &key); err != nil {
			return err
		}
		if strings.TrimSpace(publicKey) != key.PublicKey {
			return fmt.Errorf("--checkpoint-public-key is not the server's checkpoint key (%s), which verifies the checkpoints with --server", key.KeyID)
		}
	}
	var body any
	if cps != nil {
		body = map[string]any{"checkpoints": cps}
	}
	var raw json.RawMessage
	if err := api.do(ctx, "POST", "/api/admin/audit/verify", body, &raw); err != nil {
		return err
	}
	var report map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // counts print as direct mode's integers, never 1e+06
	if err := dec.Decode(&report); err != nil {
		return err
	}
	return printVerifyReport(stdout, c.json, report, nil)
}

// printVerifyReport prints audit verify's report (audit.VerifyReport's or
// the archive's, in direct mode or from the admin API): with --json the
// report, else one line. A trail that is not intact prints the report
// with --json and is the error (failed, or one built from the report).
func printVerifyReport(stdout io.Writer, asJSON bool, report map[string]any, failed error) error {
	if ok, _ := report["ok"].(bool); !ok || failed != nil {
		if failed == nil {
			var parts []string
			switch problems := report["problems"].(type) {
			case []string:
				parts = problems
			case []any:
				for _, p := range problems {
					parts = append(parts, fmt.Sprint(p))
				}
			}
			if len(parts) > 0 {
				failed = fmt.Errorf("audit trail broken: %s", strings.Join(parts, "; "))
			} else {
				failed = fmt.Errorf("audit chain broken at record %v: %v", report["first_bad_seq"], report["reason"])
			}
		}
		emit(stdout, asJSON, report, "") //nolint:errcheck // the error below matters more
		return failed
	}
	if _, ok := report["segments"]; ok {
		return emit(stdout, asJSON, report, fmt.Sprintf("audit trail intact: %v records (%v live, %v in %v archived segments of %v sealed; %v signed checkpoints matched)\n",
			report["checked"], report["live"], report["archived"], report["archived_segments"], report["segments"], report["checkpoints"]))
	}
	return emit(stdout, asJSON, report, fmt.Sprintf("audit trail intact: %v records (%v signed checkpoints matched)\n", report["checked"], report["checkpoints"]))
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
	return printVerifyReport(stdout, c.json, out, err)
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
