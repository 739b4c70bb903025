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

// openArchiver opens the store and an Archiver for an operator command.
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
	var key ed25519.PrivateKey
	var pub ed25519.PublicKey
	if *publicKey != "" && !needKey {
		if pub, err = c.checkpointPublicKey(env, "", *publicKey); err != nil {
			return nil, nil, nil, nil, err
		}
	} else if key, err = c.checkpointKey(env, *keyFile, false); err != nil {
		if needKey {
			return nil, nil, nil, nil, err
		}
		key = nil
	}
	store, _, err := c.openStore(ctx, getenv)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	cfg, _, err := af.config(ctx, &c, store, false)
	if err != nil {
		store.Close()
		return nil, nil, nil, nil, err
	}
	cfg.Key, cfg.Public = key, pub
	a, err := auditarchive.Open(ctx, cfg)
	if err != nil {
		store.Close()
		return nil, nil, nil, nil, err
	}
	return a, store, &c, append(rest, *checkpointFile, *since, *until), nil
}

// auditSeal closes the open audit segment now.
func auditSeal(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	a, store, c, _, err := openArchiver(ctx, args, "audit seal", getenv, true)
	if err != nil {
		return err
	}
	defer store.Close()
	defer a.Close()
	seg, err := a.Seal(ctx)
	if err != nil {
		return err
	}
	if seg == nil {
		return emit(stdout, c.json, map[string]any{"sealed": false}, "nothing to seal: the open segment holds no record\n")
	}
	return emit(stdout, c.json, map[string]any{"sealed": true, "seal": seg.Seal},
		fmt.Sprintf("sealed segment %d: records %d–%d, head %s\n", seg.Segment, seg.FirstSeq, seg.LastSeq, seg.Head))
}

// auditArchiveRun runs the archive pass now: seal if due, archive, prune,
// expire.
func auditArchiveRun(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	a, store, c, _, err := openArchiver(ctx, args, "audit archive run", getenv, true)
	if err != nil {
		return err
	}
	defer store.Close()
	defer a.Close()
	r, err := a.Pass(ctx)
	if err != nil {
		return err
	}
	return emit(stdout, c.json, r, fmt.Sprintf("audit archive: %d sealed, %d archived (%d records, %d bytes), %d pruned from the live database, %d expired from the archive\n",
		r.Sealed, r.Archived, r.ArchivedRecords, r.ArchivedBytes, r.Pruned, r.Expired))
}

// auditArchiveStatus shows the segments, their sizes and any gap.
func auditArchiveStatus(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	a, store, c, _, err := openArchiver(ctx, args, "audit archive status", getenv, false)
	if err != nil {
		return err
	}
	defer store.Close()
	defer a.Close()
	st, err := a.Status(ctx)
	if err != nil {
		return err
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
			s.FirstAt.Format(time.RFC3339), s.LastAt.Format(time.RFC3339), s.RecordBytes, s.ArchiveBytes, in, fmtTime(s.PrunedAt))
	}
	fmt.Fprintf(&b, "open segment %d: from record %d, %d records, %d bytes; %d records live; %d bytes archived\n",
		st.OpenSegment, st.OpenFirstSeq, st.OpenRecords, st.OpenBytes, st.LiveRecords, st.ArchivedBytes)
	for _, g := range st.Gaps {
		fmt.Fprintf(&b, "GAP: %s\n", g)
	}
	return emit(stdout, c.json, st, b.String())
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
