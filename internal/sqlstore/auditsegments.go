package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// AuditBase names the last record pruned from the live trail (the last
// record of the newest pruned segment) and its hash; 0 and "" when nothing
// was pruned. The live trail continues from there.
func (s *Store) AuditBase(ctx context.Context) (int64, string, error) {
	var seq int64
	var head string
	err := s.readRow(ctx, `SELECT last_seq, head FROM audit_segments WHERE pruned_at IS NOT NULL ORDER BY id DESC LIMIT 1`).Scan(&seq, &head)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("sqlstore: audit base: %w", err)
	}
	return seq, head, nil
}
