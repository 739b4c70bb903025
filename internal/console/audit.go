package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// newRequestID names one console request in the audit trail.
func newRequestID() string {
	b := make([]byte, 16)
	rand.Read(b) //nolint:errcheck // crypto/rand never fails on supported platforms
	return "con_" + hex.EncodeToString(b)
}

// audit records what the operator saw or did, in the same hash chain as
// the partner API and the admin API: who (operator:<id>), what, which
// resources, from where, outcome. A PHI page is not shown unless its
// record is written.
func (c *Console) audit(ctx context.Context, q *req, action, resourceType, clinicID string, status int, ids ...string) error {
	if c.cfg.Audit == nil {
		return nil
	}
	rec := c.auditRecord(q, action, resourceType, clinicID, status, ids...)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.cfg.Audit.Record(ctx, rec)
}

// auditRecord is the audit record of an operator's request, for actions
// that write it in their own transaction.
func (c *Console) auditRecord(q *req, action, resourceType, clinicID string, status int, ids ...string) *novamed.AuditRecord {
	rec := &novamed.AuditRecord{
		Time: c.now().UTC(), RequestID: newRequestID(), Action: action, ResourceType: resourceType, ResourceIDs: ids,
		ClinicID: clinicID, ClientAddr: c.clientAddr(q.r), UserAgent: truncate(q.r.UserAgent(), 200), Status: status,
	}
	setActor(rec, q.actor())
	return rec
}

// actor names the signed-in operator in the audit trail.
func (q *req) actor() string { return "operator:" + q.s.op.ID }
