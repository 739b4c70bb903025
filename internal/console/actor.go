package console

import "github.com/novamed/partner-api/internal/novamed"

// setActor names who acted (operator:<id>).
func setActor(rec *novamed.AuditRecord, actor string) { rec.Actor = actor }
