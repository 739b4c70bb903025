package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/auditarchive"
	"github.com/novamed/partner-api/internal/httpapi"
	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/server"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// auditArchiveFlags are the archive settings a command may give; what it
// leaves out comes from what serve recorded in the database.
type auditArchiveFlags struct {
	archive, segment, retainLive, retainArchive string
}

func (f *auditArchiveFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&f.archive, "audit-archive", getenv("NOVAMED_AUDIT_ARCHIVE"), "where sealed audit segments are archived: file:///path or s3://bucket/prefix?region=… (SQLite default: DATA_DIR/audit-archive; PostgreSQL: off until set to storage every replica shares; \"off\" turns it off)")
	fs.StringVar(&f.segment, "audit-segment", getenv("NOVAMED_AUDIT_SEGMENT"), "when the audit trail is cut into a sealed segment: a period (24h), a size (64MB) or both (24h,64MB) (default 24h,64MB)")
	fs.StringVar(&f.retainLive, "audit-retain-live", getenv("NOVAMED_AUDIT_RETAIN_LIVE"), "how long sealed, archived audit segments stay in the live database (default 30d)")
	fs.StringVar(&f.retainArchive, "audit-retain-archive", getenv("NOVAMED_AUDIT_RETAIN_ARCHIVE"), "how long the archive keeps audit segments (default 6y)")
}

// flags are the settings given on the command line.
func (f *auditArchiveFlags) flags() server.ArchiveFlags {
	return server.ArchiveFlags{Archive: f.archive, Segment: f.segment, RetainLive: f.retainLive, RetainArchive: f.retainArchive}
}

// config resolves the archive settings: flags, else what serve recorded,
// else the defaults (server.ResolveArchive).
func (f *auditArchiveFlags) config(ctx context.Context, c *common, store *sqlstore.Store, serving bool) (auditarchive.Config, map[string]string, error) {
	return server.ResolveArchive(ctx, f.flags(), c.dataDir, store, serving)
}

// archiverFor opens the Archiver of store with the archive settings of af
// (flags, else what serve recorded, else the defaults) and the checkpoint
// key (keyFile, else the development default) or, where no key is needed,
// a public key to check seals with. needKey: sealing, which signs.
func (c *common) archiverFor(ctx context.Context, store *sqlstore.Store, env novamed.Environment, af *auditArchiveFlags, keyFile, publicKey string, needKey bool) (*auditarchive.Archiver, ed25519.PrivateKey, error) {
	var key ed25519.PrivateKey
	var pub ed25519.PublicKey
	var err error
	if publicKey != "" && !needKey {
		if pub, err = c.checkpointPublicKey(env, "", publicKey); err != nil {
			return nil, nil, err
		}
	} else if key, err = c.checkpointKey(env, keyFile, false); err != nil {
		if needKey {
			return nil, nil, err
		}
		key = nil
	}
	cfg, _, err := af.config(ctx, c, store, false)
	if err != nil {
		return nil, nil, err
	}
	cfg.Key, cfg.Public = key, pub
	a, err := auditarchive.Open(ctx, cfg)
	return a, key, err
}

// openArchiver opens the store and an Archiver for audit verify and audit
// export in direct mode (they read the archive store themselves).
func openArchiver(ctx context.Context, args []string, name string, getenv func(string) string, needKey bool) (*auditarchive.Archiver, *sqlstore.Store, *common, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	var af auditArchiveFlags
	af.register(fs, getenv)
	keyFile := registerCheckpointKey(fs, getenv)
	publicKey := fs.String("checkpoint-public-key", getenv("NOVAMED_CHECKPOINT_PUBLIC_KEY"), "base64 public key that signed the seals (default: derived from the checkpoint key)")
	checkpointFile := fs.String("checkpoint", "", "file of signed checkpoints (verify only)")
	since := fs.String("since", "", "RFC 3339 time, a date or a duration ago (export only; inclusive)")
	until := fs.String("until", "", "RFC 3339 time, a date or a duration ago (export only; exclusive)")
	fs.String("actor", "", "only records whose actor starts with this (export only)")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	env, err := c.environment()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if publicKey := *publicKey; publicKey == "" || needKey {
		// Fail on a missing key before the database is opened.
		if _, err := c.checkpointKey(env, *keyFile, false); err != nil && needKey {
			return nil, nil, nil, nil, err
		}
	}
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	a, _, err := c.archiverFor(ctx, store, env, &af, *keyFile, *publicKey, needKey)
	if err != nil {
		store.Close()
		return nil, nil, nil, nil, err
	}
	return a, store, &c, append(rest, *checkpointFile, *since, *until), nil
}

// archiveCommand runs an audit archive command through the admin API: with
// --server, the server's archive and checkpoint key (the archive flags and
// key files are direct mode's and refused); in direct mode, the in-process
// server's, given the archive of the flags (else what serve recorded, else
// the defaults) and the checkpoint key. call makes the request and returns
// the --json data and the text; both modes print the same.
func archiveCommand(ctx context.Context, args []string, name string, getenv func(string) string, stdout, stderr io.Writer, needKey bool,
	call func(api *adminClient) (any, string, error)) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var c common
	c.register(fs, getenv)
	var af auditArchiveFlags
	af.register(fs, getenv)
	keyFile := registerCheckpointKey(fs, getenv)
	publicKey := fs.String("checkpoint-public-key", getenv("NOVAMED_CHECKPOINT_PUBLIC_KEY"), "base64 public key that signed the seals (default: derived from the checkpoint key)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if c.server != "" {
		if f := explicitFlag(fs, "audit-archive", "audit-segment", "audit-retain-live", "audit-retain-archive", "checkpoint-key-file", "checkpoint-public-key"); f != "" {
			return fmt.Errorf("--%s is for direct database mode: with --server the server uses the archive and checkpoint key it was started with", f)
		}
	}
	return adminCommand(ctx, &c, getenv, stdout, stderr, call, func(ctx context.Context, store *sqlstore.Store, env novamed.Environment, cfg *httpapi.Config) (func(), error) {
		a, key, err := c.archiverFor(ctx, store, env, &af, *keyFile, *publicKey, needKey)
		if err != nil {
			return nil, err
		}
		cfg.AuditArchive, cfg.CheckpointKey = a, key
		return func() { a.Close() }, nil
	})
}

// auditSeal closes the open audit segment now (POST /api/admin/audit/seal).
func auditSeal(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return archiveCommand(ctx, args, "audit seal", getenv, stdout, stderr, true, func(api *adminClient) (any, string, error) {
		var out httpapi.AdminAuditSeal
		if err := api.do(ctx, "POST", "/api/admin/audit/seal", nil, &out); err != nil {
			return nil, "", err
		}
		if !out.Sealed || out.Seal == nil {
			return out, "nothing to seal: the open segment holds no record\n", nil
		}
		return out, fmt.Sprintf("sealed segment %d: records %d–%d, head %s\n", out.Seal.Segment, out.Seal.FirstSeq, out.Seal.LastSeq, out.Seal.Head), nil
	})
}

// auditArchiveRun runs the archive pass now: seal if due, archive, prune,
// expire (POST /api/admin/audit/archive/runs).
func auditArchiveRun(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return archiveCommand(ctx, args, "audit archive run", getenv, stdout, stderr, true, func(api *adminClient) (any, string, error) {
		var r httpapi.AdminAuditArchiveRun
		if err := api.do(ctx, "POST", "/api/admin/audit/archive/runs", nil, &r); err != nil {
			return nil, "", err
		}
		if r.Skipped {
			return r, "audit archive: skipped, another process holds the archive lease (its pass is running); try again in a minute\n", nil
		}
		return r, fmt.Sprintf("audit archive: %d sealed, %d archived (%d records, %d bytes), %d pruned from the live database, %d expired from the archive\n",
			r.Sealed, r.Archived, r.ArchivedRecords, r.ArchivedBytes, r.Pruned, r.Expired), nil
	})
}

// auditArchiveStatus shows the segments, their sizes and any gap (GET
// /api/admin/audit/archive).
func auditArchiveStatus(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return archiveCommand(ctx, args, "audit archive status", getenv, stdout, stderr, false, func(api *adminClient) (any, string, error) {
		var st auditarchive.Status
		if err := api.do(ctx, "GET", "/api/admin/audit/archive", nil, &st); err != nil {
			return nil, "", err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "archive: %s\n", or(st.ArchiveURL, "off"))
		fmt.Fprintf(&b, "%-8s %-22s %-20s %-20s %10s %10s %-9s %-7s\n", "SEGMENT", "RECORDS", "FIRST", "LAST", "BYTES", "ARCHIVED", "ARCHIVE", "PRUNED")
		for _, s := range st.Segments {
			in := "-"
			if s.InArchive != nil {
				in = map[bool]string{true: "present", false: "MISSING"}[*s.InArchive]
			}
			fmt.Fprintf(&b, "%-8d %-22s %-20s %-20s %10d %10d %-9s %-7s\n", s.Segment, fmt.Sprintf("%d–%d", s.FirstSeq, s.LastSeq),
				s.FirstAt.UTC().Format(time.RFC3339), s.LastAt.UTC().Format(time.RFC3339), s.RecordBytes, s.ArchiveBytes, in, fmtTime(s.PrunedAt))
		}
		fmt.Fprintf(&b, "open segment %d: from record %d, %d records, %d bytes; %d records live; %d bytes archived\n",
			st.OpenSegment, st.OpenFirstSeq, st.OpenRecords, st.OpenBytes, st.LiveRecords, st.ArchivedBytes)
		for _, g := range st.Gaps {
			fmt.Fprintf(&b, "GAP: %s\n", g)
		}
		return &st, b.String(), nil
	})
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// backupAuditArchive copies a folder audit archive (file://) beside the
// backup file at to, into to + ".audit-archive"; an S3 archive is left to
// the bucket's own versioning and replication.
func backupAuditArchive(ctx context.Context, store *sqlstore.Store, to string) (string, int, error) {
	set, err := store.AuditSettings(ctx)
	if err != nil {
		return "", 0, err
	}
	raw := set[auditarchive.SettingArchive]
	if !strings.HasPrefix(raw, "file://") {
		return "", 0, nil
	}
	src, err := auditarchive.OpenBucket(ctx, raw)
	if err != nil {
		return "", 0, err
	}
	defer src.Close()
	dir := to + ".audit-archive"
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", 0, fmt.Errorf("backup of the audit archive: %w", err)
	}
	dst, err := auditarchive.OpenBucket(ctx, "file://"+filepath.ToSlash(mustAbs(dir)))
	if err != nil {
		return "", 0, err
	}
	defer dst.Close()
	n := 0
	it := src.List(nil)
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", n, fmt.Errorf("backup of the audit archive: %w", err)
		}
		b, err := src.ReadAll(ctx, obj.Key)
		if err != nil {
			return "", n, fmt.Errorf("backup of the audit archive: %w", err)
		}
		if err := dst.WriteAll(ctx, obj.Key, b, nil); err != nil {
			return "", n, fmt.Errorf("backup of the audit archive: %w", err)
		}
		n++
	}
	return dir, n, nil
}

func mustAbs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
