package console

import "github.com/novamed/partner-api/internal/novamed"

// setActor names who acted. Until the audit record has its Actor field
// (issue 22) the operator is named as the key owner.
func setActor(rec *novamed.AuditRecord, actor string) { rec.KeyOwner = actor }
