package httpapi

import (
	"crypto/ed25519"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/novamed"
)

// The admin routes of the audit trail (issue 22): search and export,
// verify, signed checkpoints and the key that verifies them, sealing the
// open segment and the archive pass and status (through the server's own
// archive). Each answers what the `novamed audit …` command of the same
// name prints, in both of the command's modes.

// maxAuditPage is the most records one answer of GET /api/admin/audit holds.
const maxAuditPage = 10000

// auditQuery is the filter of GET /api/admin/audit.
type auditQuery struct {
	since, until                         time.Time
	actor, key, clinic, resource, action string
	limit                                int
	after                                int64
}

// parseAuditQuery reads the query; every problem is a field of one 400.
func parseAuditQuery(c *adminCall) (auditQuery, error) {
	q := c.r.URL.Query()
	aq := auditQuery{actor: q.Get("actor"), key: strings.ToLower(q.Get("key")), clinic: strings.ToLower(q.Get("clinic")),
		resource: q.Get("resource"), action: q.Get("action"), limit: maxAuditPage}
	var problems []novamed.FieldError
	for name, dst := range map[string]*time.Time{"since": &aq.since, "until": &aq.until} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				problems = append(problems, novamed.FieldError{Field: name, Message: name + " is an RFC 3339 time."})
			}
			*dst = t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAuditPage {
			problems = append(problems, novamed.FieldError{Field: "limit", Message: "limit is 1 to 10000."})
		}
		aq.limit = n
	}
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			problems = append(problems, novamed.FieldError{Field: "cursor", Message: "cursor is the next_cursor of the previous page."})
		}
		aq.after = n
	}
	if len(problems) > 0 {
		slices.SortFunc(problems, func(a, b novamed.FieldError) int { return strings.Compare(a.Field, b.Field) })
		return aq, novamed.ValidationError(problems)
	}
	return aq, nil
}

// match reports whether rec passes the filter: actor is a prefix (operator:,
// operator:ID, key:ID, local:, system:sandbox); key is the key that acted or
// a key the record names; clinic is the record's clinic; resource is a
// resource id the record names or its resource type; action is an action,
// or a prefix ending in "." (partner.).
func (aq *auditQuery) match(rec *novamed.AuditRecord) bool {
	switch {
	case rec.Seq <= aq.after:
		return false
	case aq.actor != "" && !strings.HasPrefix(rec.Actor, aq.actor):
		return false
	case aq.key != "" && rec.KeyID != aq.key && !slices.Contains(rec.ResourceIDs, aq.key):
		return false
	case aq.clinic != "" && rec.ClinicID != aq.clinic:
		return false
	case aq.resource != "" && rec.ResourceType != aq.resource && !slices.Contains(rec.ResourceIDs, aq.resource):
		return false
	case aq.action != "" && rec.Action != aq.action && !(strings.HasSuffix(aq.action, ".") && strings.HasPrefix(rec.Action, aq.action)):
		return false
	}
	return true
}

// adminAuditExport answers the live trail's records of a window, oldest
// first, filtered, at most limit; next_cursor continues after the last one
// when there are more ("truncated": true).
func (s *Server) adminAuditExport(c *adminCall) (any, facts, bool, error) {
	aq, err := parseAuditQuery(c)
	if err != nil {
		return nil, facts{}, false, err
	}
	recs := []*novamed.AuditRecord{}
	truncated := false
	err = s.admin.ScanAudit(c.r.Context(), aq.since, aq.until, func(r *novamed.AuditRecord) error {
		if !aq.match(r) {
			return nil
		}
		if len(recs) == aq.limit {
			truncated = true
			return errStopScan
		}
		recs = append(recs, r)
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return nil, facts{}, false, err
	}
	var next *string
	if truncated {
		n := strconv.FormatInt(recs[len(recs)-1].Seq, 10)
		next = &n
	}
	return map[string]any{"records": recs, "truncated": truncated, "next_cursor": next}, touched(aq.clinic), false, nil
}

var errStopScan = errors.New("httpapi: enough audit records")

// errNoCheckpointKey answers the checkpoint routes of a server without
// the checkpoint key.
var errNoCheckpointKey = &novamed.Error{Code: novamed.CodeUnavailable, Message: "This server holds no audit checkpoint key."}

// AdminAuditVerifyRequest is the optional body of POST
// /api/admin/audit/verify: signed checkpoints (as `novamed audit
// checkpoint` prints them) the trail must reach and match, checked
// against this server's checkpoint key.
type AdminAuditVerifyRequest struct {
	Checkpoints []audit.Checkpoint `json:"checkpoints"`
}

// adminAuditVerify checks the whole trail as `novamed audit verify` does
// and answers its facts: a broken trail is a 200 with "ok": false and
// where it broke (the verification worked; the trail did not).
func (s *Server) adminAuditVerify(c *adminCall) (any, facts, bool, error) {
	var in AdminAuditVerifyRequest
	if err := decodeAdmin(c.r, &in); err != nil {
		return nil, facts{}, false, err
	}
	var pub ed25519.PublicKey
	if in.Checkpoints != nil {
		if s.checkpointKey == nil {
			return nil, facts{}, false, errNoCheckpointKey
		}
		pub = s.checkpointKey.Public().(ed25519.PublicKey)
		for i := range in.Checkpoints {
			if err := in.Checkpoints[i].Check(pub); err != nil {
				return nil, facts{}, false, novamed.Errorf(novamed.CodeInvalid, "checkpoints[%d]: %s", i, err.Error())
			}
		}
	}
	ctx := c.r.Context()
	segs, err := s.admin.AuditSegments(ctx)
	if err != nil {
		return nil, facts{}, false, err
	}
	var report map[string]any
	if len(segs) > 0 && s.auditArchive != nil {
		report, err = s.auditArchive.VerifyReport(ctx, in.Checkpoints)
	} else {
		report, err = audit.VerifyReport(ctx, s.admin, pub, in.Checkpoints)
	}
	if report == nil {
		return nil, facts{}, false, err
	}
	return report, facts{}, false, nil
}

// adminAuditCheckpoint signs the chain head now and answers the
// checkpoint, as `novamed audit checkpoint` prints it.
func (s *Server) adminAuditCheckpoint(c *adminCall) (any, facts, bool, error) {
	if s.checkpointKey == nil {
		return nil, facts{}, false, errNoCheckpointKey
	}
	cp, err := audit.NewCheckpoint(c.r.Context(), s.admin, s.checkpointKey, s.now())
	if err != nil {
		return nil, facts{}, false, err
	}
	return cp, touched("", strconv.FormatInt(cp.Seq, 10)), false, nil
}

// adminAuditCheckpointKey answers the public key that verifies this
// server's checkpoints, as `novamed audit checkpoint --public-key` prints it.
func (s *Server) adminAuditCheckpointKey(c *adminCall) (any, facts, bool, error) {
	if s.checkpointKey == nil {
		return nil, facts{}, false, errNoCheckpointKey
	}
	return audit.PublicKeyReport(s.checkpointKey.Public().(ed25519.PublicKey)), facts{}, false, nil
}

// errNoArchive answers the archive routes of a server that runs no audit
// archive pass (its migrations are pending).
var errNoArchive = &novamed.Error{Code: novamed.CodeUnavailable, Message: "This server runs no audit archive pass (are migrations pending?)."}

// AdminAuditSeal is the answer of POST /api/admin/audit/seal and what
// `novamed audit seal --json` prints: the new segment's signed seal, or
// sealed false when the open segment held no record.
type AdminAuditSeal struct {
	Sealed bool        `json:"sealed"`
	Seal   *audit.Seal `json:"seal,omitempty"`
}

// adminAuditSeal closes the open audit segment now and signs its seal with
// the checkpoint key (the archive pass archives it later, or at once with
// POST /api/admin/audit/archive/runs).
func (s *Server) adminAuditSeal(c *adminCall) (any, facts, bool, error) {
	if s.auditArchive == nil {
		return nil, facts{}, false, errNoArchive
	}
	if s.checkpointKey == nil {
		return nil, facts{}, false, errNoCheckpointKey
	}
	seg, err := s.auditArchive.Seal(c.r.Context())
	if err != nil {
		return nil, facts{}, false, err
	}
	if seg == nil {
		return AdminAuditSeal{}, facts{}, false, nil
	}
	return AdminAuditSeal{Sealed: true, Seal: &seg.Seal}, touched("", strconv.FormatInt(seg.Segment, 10)), false, nil
}

// AdminAuditArchiveRun is the answer of POST /api/admin/audit/archive/runs
// and what `novamed audit archive run --json` prints: what one archive
// pass did. Skipped: another process held the archive lease, so this pass
// did nothing.
type AdminAuditArchiveRun struct {
	Sealed          int   `json:"sealed"`
	Archived        int   `json:"archived"`
	ArchivedRecords int64 `json:"archived_records"`
	ArchivedBytes   int64 `json:"archived_bytes"`
	Pruned          int   `json:"pruned"`
	Expired         int   `json:"expired"`
	Skipped         bool  `json:"skipped"`
}

// adminAuditArchiveRun runs the server's archive pass now, with the
// archive and retention the server was configured with: seal if due,
// archive, prune the live database, expire the archive.
func (s *Server) adminAuditArchiveRun(c *adminCall) (any, facts, bool, error) {
	if s.auditArchive == nil {
		return nil, facts{}, false, errNoArchive
	}
	if err := decodeAdmin(c.r, &struct{}{}); err != nil {
		return nil, facts{}, false, err
	}
	r, err := s.auditArchive.Pass(c.r.Context())
	if err != nil {
		return nil, facts{}, false, err
	}
	return AdminAuditArchiveRun{Sealed: r.Sealed, Archived: r.Archived, ArchivedRecords: r.ArchivedRecords, ArchivedBytes: r.ArchivedBytes,
		Pruned: r.Pruned, Expired: r.Expired, Skipped: r.Skipped}, facts{}, false, nil
}

// adminAuditArchiveStatus answers the sealed segments, their sizes, where
// they are, the open segment and any gap (auditarchive.Status).
func (s *Server) adminAuditArchiveStatus(c *adminCall) (any, facts, bool, error) {
	if s.auditArchive == nil {
		return nil, facts{}, false, errNoArchive
	}
	st, err := s.auditArchive.Status(c.r.Context())
	if err != nil {
		return nil, facts{}, false, err
	}
	return st, facts{}, false, nil
}
