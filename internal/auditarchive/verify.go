package auditarchive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/novamed"
)

// Result is what Verify checked and every problem it found.
type Result struct {
	Segments         int      `json:"segments"`
	ArchivedSegments int      `json:"archived_segments"`
	ArchivedRecords  int64    `json:"archived_records"`
	LiveRecords      int64    `json:"live_records"`
	Checkpoints      int      `json:"checkpoints"`
	Problems         []string `json:"problems,omitempty"`
}

// Verify checks the whole trail: every segment's seal (signature, and the
// links between segments), every archived segment's records against its
// seal, the live chain from the last pruned segment on (it must start at
// that segment's sealed head, and pass through the head of every sealed
// segment still live), and the signed checkpoints against whichever holds
// their record. Problems are collected, each naming its segment or record;
// the error is non-nil when there is any.
func (a *Archiver) Verify(ctx context.Context, cps []audit.Checkpoint) (*Result, error) {
	res := &Result{Checkpoints: len(cps)}
	problem := func(format string, args ...any) { res.Problems = append(res.Problems, fmt.Sprintf(format, args...)) }
	segs, err := a.cfg.Store.AuditSegments(ctx)
	if err != nil {
		return nil, err
	}
	res.Segments = len(segs)
	if len(segs) > 0 && a.cfg.Public == nil {
		return nil, errors.New("the trail has sealed segments: give the checkpoint key (--checkpoint-key-file or --checkpoint-public-key) to check their seals")
	}
	wantCP := map[int64]string{}
	for i := range cps {
		if err := cps[i].Check(a.cfg.Public); err != nil {
			return nil, err
		}
		wantCP[cps[i].Seq] = cps[i].Head
	}
	found := map[int64]string{}
	settings, err := a.cfg.Store.AuditSettings(ctx)
	if err != nil {
		return nil, err
	}
	expired, _ := strconv.ParseInt(settings[settingExpiredThrough], 10, 64)

	// The seals, and the links between segments.
	var prev *audit.Segment
	for _, seg := range segs {
		if err := seg.Check(a.cfg.Public); err != nil {
			problem("segment %d: %v", seg.Segment, err)
		}
		switch {
		case prev == nil && seg.Segment != 1 && seg.Segment-1 > expired:
			problem("segments 1–%d are missing from the database (only %d expired from the archive)", seg.Segment-1, expired)
		case prev == nil && seg.Segment == 1 && (seg.FirstSeq != 1 || seg.PrevHead != ""):
			problem("segment 1 does not start the trail (first record %d)", seg.FirstSeq)
		case prev != nil && seg.Segment != prev.Segment+1:
			problem("segments %d–%d are missing between %d and %d", prev.Segment+1, seg.Segment-1, prev.Segment, seg.Segment)
		case prev != nil && (seg.FirstSeq != prev.LastSeq+1 || seg.PrevHead != prev.Head):
			problem("segment %d does not continue segment %d (records %d–%d, then %d; its previous head differs: missing, reordered or edited)", seg.Segment, prev.Segment, prev.FirstSeq, prev.LastSeq, seg.FirstSeq)
		}
		prev = seg
	}

	// The archive: every object named, every archived segment read.
	if a.bucket != nil {
		known := map[int64]bool{}
		for _, seg := range segs {
			known[seg.Segment] = true
		}
		names, err := a.listSegments(ctx)
		if err != nil {
			return nil, err
		}
		for _, id := range names {
			if !known[id] && id > expired {
				problem("segment %d is in the archive but unknown to the database", id)
			}
		}
	}
	for _, seg := range segs {
		if seg.ArchivedAt == nil {
			if seg.PrunedAt != nil {
				problem("segment %d was pruned without being archived", seg.Segment)
			}
			continue
		}
		if a.bucket == nil {
			if seg.PrunedAt != nil {
				return nil, fmt.Errorf("segments are archived (at %s): give --audit-archive to verify them", seg.ArchiveURL)
			}
			continue
		}
		n, err := a.readSegment(ctx, seg, nil, func(rec *novamed.AuditRecord) error {
			if _, ok := wantCP[rec.Seq]; ok {
				found[rec.Seq] = rec.Hash
			}
			return nil
		})
		var se *SegmentError
		if errors.As(err, &se) {
			problem("%s", strings.TrimPrefix(se.Error(), "audit archive: "))
			continue
		}
		if err != nil {
			return nil, err
		}
		res.ArchivedSegments++
		res.ArchivedRecords += n
	}

	// The live chain, from where pruning left it.
	base, baseHash, err := a.cfg.Store.AuditBase(ctx)
	if err != nil {
		return nil, err
	}
	heads := map[int64]*audit.Segment{}
	var lastPruned *audit.Segment
	for _, seg := range segs {
		if seg.PrunedAt != nil {
			lastPruned = seg
		} else {
			heads[seg.LastSeq] = seg
		}
	}
	if lastPruned != nil && (lastPruned.LastSeq != base || lastPruned.Head != baseHash) {
		problem("the live trail starts after record %d, but the last pruned segment %d is sealed as ending at %d with another hash (edited)", base, lastPruned.Segment, lastPruned.LastSeq)
	}
	n, err := audit.VerifyCheckpoints(ctx, observing{a.cfg.Store, func(rec *novamed.AuditRecord) {
		if seg := heads[rec.Seq]; seg != nil && seg.Head != rec.Hash {
			problem("record %d differs from the head of segment %d as sealed (the live trail was rewritten)", rec.Seq, seg.Segment)
		}
	}}, a.cfg.Public, liveCheckpoints(cps, base))
	res.LiveRecords = n
	if err != nil {
		problem("live trail: %v", err)
	}
	for _, c := range cps {
		if c.Seq >= base || c.Seq == 0 {
			continue
		}
		if h, ok := found[c.Seq]; !ok {
			if c.Seq > expired {
				problem("the checkpoint of record %d signed at %s cannot be checked: the record is neither live nor in a readable archived segment", c.Seq, c.At.UTC().Format(time.RFC3339))
			}
		} else if h != c.Head {
			problem("archived record %d differs from the checkpoint signed at %s: the archive was rewritten", c.Seq, c.At.UTC().Format(time.RFC3339))
		}
	}
	if len(res.Problems) > 0 {
		return res, fmt.Errorf("audit trail broken: %s", strings.Join(res.Problems, "; "))
	}
	return res, nil
}

// liveCheckpoints are the checkpoints the live walk checks (the rest are
// checked against the archive).
func liveCheckpoints(cps []audit.Checkpoint, base int64) []audit.Checkpoint {
	if cps == nil {
		return nil
	}
	return slices.DeleteFunc(slices.Clone(cps), func(c audit.Checkpoint) bool { return c.Seq < base })
}

// observing is a store whose ScanAuditRows also shows each verified record
// to fn (through VerifyCheckpoints' walk).
type observing struct {
	Store
	fn func(*novamed.AuditRecord)
}

func (o observing) ScanAuditRows(ctx context.Context, fn func(*novamed.AuditRow) error) error {
	return o.Store.ScanAuditRows(ctx, func(row *novamed.AuditRow) error {
		if err := fn(row); err != nil {
			return err
		}
		if rec, err := audit.Decode(row); err == nil {
			rec.Hash = row.Hash
			o.fn(rec)
		}
		return nil
	})
}

// listSegments lists the segment numbers that have an object in the
// archive.
func (a *Archiver) listSegments(ctx context.Context) ([]int64, error) {
	seen := map[int64]bool{}
	it := a.bucket.List(nil)
	for {
		obj, err := it.Next(ctx)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("audit archive: list: %w", err)
		}
		name, ok := strings.CutPrefix(obj.Key, objectPrefix)
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(name, ".")
		if id, err := strconv.ParseInt(num, 10, 64); err == nil {
			seen[id] = true
		}
	}
	out := make([]int64, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	slices.Sort(out)
	return out, nil
}

// Export calls fn for every record with since <= Time < until (zero:
// unbounded), oldest first: the pruned segments from the archive (each
// checked against its seal as it is read), then the live trail.
func (a *Archiver) Export(ctx context.Context, since, until time.Time, fn func(*novamed.AuditRecord) error) error {
	segs, err := a.cfg.Store.AuditSegments(ctx)
	if err != nil {
		return err
	}
	in := func(t time.Time) bool {
		return (since.IsZero() || !t.Before(since)) && (until.IsZero() || t.Before(until))
	}
	// A segment is read when its first-to-last span, widened by an hour
	// (records are chained within moments of their time), meets the window.
	const slack = time.Hour
	for _, seg := range segs {
		if seg.PrunedAt == nil {
			continue
		}
		if (!since.IsZero() && seg.LastAt.Add(slack).Before(since)) || (!until.IsZero() && !seg.FirstAt.Add(-slack).Before(until)) {
			continue
		}
		if _, err := a.readSegment(ctx, seg, nil, func(rec *novamed.AuditRecord) error {
			if in(rec.Time) {
				return fn(rec)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return a.cfg.Store.ScanAudit(ctx, since, until, fn)
}

// Status describes the segments, the archive and the open segment.
type Status struct {
	ArchiveURL    string          `json:"archive_url,omitempty"`
	Segments      []SegmentStatus `json:"segments"`
	OpenSegment   int64           `json:"open_segment"`
	OpenFirstSeq  int64           `json:"open_first_seq"`
	OpenRecords   int64           `json:"open_records"`
	OpenBytes     int64           `json:"open_bytes"`
	LiveRecords   int64           `json:"live_records"`
	ArchivedBytes int64           `json:"archived_bytes"`
	Gaps          []string        `json:"gaps,omitempty"`
}

// SegmentStatus is one segment in Status.
type SegmentStatus struct {
	Segment      int64      `json:"segment"`
	FirstSeq     int64      `json:"first_seq"`
	LastSeq      int64      `json:"last_seq"`
	FirstAt      time.Time  `json:"first_at"`
	LastAt       time.Time  `json:"last_at"`
	RecordBytes  int64      `json:"record_bytes"`
	ArchiveBytes int64      `json:"archive_bytes,omitempty"`
	ArchivedAt   *time.Time `json:"archived_at,omitempty"`
	PrunedAt     *time.Time `json:"pruned_at,omitempty"`
	InArchive    *bool      `json:"in_archive,omitempty"`
}

// Status lists the segments (with whether the archive has each) and the
// open segment, and names gaps: segments missing between others, or
// archived but absent from the archive.
func (a *Archiver) Status(ctx context.Context) (*Status, error) {
	if _, _, err := a.cfg.Store.AuditHead(ctx); err != nil { // chains what is pending
		return nil, err
	}
	segs, err := a.cfg.Store.AuditSegments(ctx)
	if err != nil {
		return nil, err
	}
	st := &Status{ArchiveURL: a.cfg.URL, Segments: []SegmentStatus{}}
	var inArchive map[int64]bool
	if a.bucket != nil {
		ids, err := a.listSegments(ctx)
		if err != nil {
			return nil, err
		}
		inArchive = map[int64]bool{}
		for _, id := range ids {
			inArchive[id] = true
		}
	}
	var prev *audit.Segment
	for _, seg := range segs {
		s := SegmentStatus{Segment: seg.Segment, FirstSeq: seg.FirstSeq, LastSeq: seg.LastSeq, FirstAt: seg.FirstAt, LastAt: seg.LastAt,
			RecordBytes: seg.RecordBytes, ArchiveBytes: seg.ArchiveBytes, ArchivedAt: seg.ArchivedAt, PrunedAt: seg.PrunedAt}
		if inArchive != nil {
			ok := inArchive[seg.Segment]
			s.InArchive = &ok
			if !ok && seg.ArchivedAt != nil {
				st.Gaps = append(st.Gaps, fmt.Sprintf("segment %d (records %d–%d) is archived but missing from the archive", seg.Segment, seg.FirstSeq, seg.LastSeq))
			}
		}
		if prev != nil && (seg.Segment != prev.Segment+1 || seg.FirstSeq != prev.LastSeq+1) {
			st.Gaps = append(st.Gaps, fmt.Sprintf("between segment %d (to record %d) and segment %d (from record %d)", prev.Segment, prev.LastSeq, seg.Segment, seg.FirstSeq))
		}
		st.ArchivedBytes += seg.ArchiveBytes
		st.Segments = append(st.Segments, s)
		prev = seg
	}
	id, first, _, err := a.cfg.Store.OpenAuditSegment(ctx)
	if err != nil {
		return nil, err
	}
	st.OpenSegment, st.OpenFirstSeq = id, first
	if st.OpenRecords, st.OpenBytes, _, err = a.cfg.Store.AuditRecordStats(ctx, first-1); err != nil {
		return nil, err
	}
	base, _, err := a.cfg.Store.AuditBase(ctx)
	if err != nil {
		return nil, err
	}
	if st.LiveRecords, _, _, err = a.cfg.Store.AuditRecordStats(ctx, base); err != nil {
		return nil, err
	}
	return st, nil
}
