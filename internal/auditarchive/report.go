package auditarchive

import (
	"context"

	"github.com/novamed/partner-api/internal/audit"
)

// VerifyReport is Verify as `novamed audit verify --json` prints it and
// POST /api/admin/audit/verify answers for a trail with sealed segments:
// {"ok", "checked", "live", "archived", "segments", "archived_segments",
// "checkpoints", "problems"}. A trail with problems returns the report and
// the error; a check that could not run returns a nil report.
func (a *Archiver) VerifyReport(ctx context.Context, cps []audit.Checkpoint) (map[string]any, error) {
	res, err := a.Verify(ctx, cps)
	if res == nil {
		return nil, err
	}
	return map[string]any{"ok": err == nil, "checked": res.LiveRecords + res.ArchivedRecords, "live": res.LiveRecords, "archived": res.ArchivedRecords,
		"segments": res.Segments, "archived_segments": res.ArchivedSegments, "checkpoints": res.Checkpoints, "problems": res.Problems}, err
}
