package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/novamed/partner-api/internal/novamed"
)

// listPage returns one page of table rows in the caller's clinics, newest
// first. Ids are UUIDv7, so id order is creation order and the cursor is the
// last id of the previous page.
func listPage[T any](ctx context.Context, s *Store, table, columns string, f novamed.ListFilter, scan func(rowScanner) (T, error), id func(T) string) ([]T, string, error) {
	return listPageWhere(ctx, s, table, columns, f, "", nil, scan, id)
}

// listPageWhere is listPage with extra conditions (" AND …") and their arguments.
func listPageWhere[T any](ctx context.Context, s *Store, table, columns string, f novamed.ListFilter, extra string, extraArgs []any,
	scan func(rowScanner) (T, error), id func(T) string) ([]T, string, error) {
	items := []T{}
	if len(f.Clinics) == 0 {
		return items, "", nil
	}
	args := append(anySlice(f.Clinics), extraArgs...)
	query := `SELECT ` + columns + ` FROM ` + table + ` WHERE clinic_id IN (` + placeholders(len(f.Clinics)) + `)` + extra
	if f.Cursor != "" {
		query += ` AND id < ?`
		args = append(args, f.Cursor)
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, f.Limit+1)
	rows, err := s.read.query(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("sqlstore: list %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		item, err := scan(rows)
		if err != nil {
			return nil, "", err
		}
		items = append(items, item)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("sqlstore: list %s: %w", table, err)
	}
	next := ""
	if len(items) > f.Limit {
		items = items[:f.Limit]
		next = id(items[len(items)-1])
	}
	return items, next, nil
}

// getScoped reads one row by id, only within clinics.
func getScoped[T any](ctx context.Context, s *Store, table, columns, id string, clinics []string, scan func(rowScanner) (T, error)) (T, bool, error) {
	var zero T
	if len(clinics) == 0 {
		return zero, false, nil
	}
	args := append([]any{id}, anySlice(clinics)...)
	row := s.read.queryRow(ctx, `SELECT `+columns+` FROM `+table+` WHERE id = ? AND clinic_id IN (`+placeholders(len(clinics))+`)`, args...)
	item, err := scan(row)
	if err == sql.ErrNoRows {
		return zero, false, nil
	}
	if err != nil {
		return zero, false, err
	}
	return item, true, nil
}
