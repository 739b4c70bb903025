package sqlstore

import (
	"context"
	"fmt"
)

// AuditTableBytes is the space the live audit trail takes: the audit_log
// table with its indexes (SQLite: its pages, from dbstat; PostgreSQL:
// pg_total_relation_size). For sizing and the bytes-per-record benchmark.
func (s *Store) AuditTableBytes(ctx context.Context) (int64, error) {
	var n int64
	var err error
	if s.dialect == Postgres {
		err = s.read.queryRow(ctx, `SELECT pg_total_relation_size('audit_log')`).Scan(&n)
	} else {
		err = s.read.queryRow(ctx, `SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name = 'audit_log' OR name IN (SELECT name FROM sqlite_schema WHERE tbl_name = 'audit_log')`).Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("sqlstore: audit size: %w", err)
	}
	return n, nil
}
