package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/phi"
)

// indexState is the row of blind_index_state: the master key version the
// blind indexes are keyed with and, while a re-index runs, the version it
// moves them to, the table it is in and the last row id it did.
type indexState struct {
	version, target uint32
	phase, cursor   string
}

const selectIndexStateSQL = `SELECT version, target, phase, cursor_id FROM blind_index_state WHERE id = 1`

func (s *Store) indexState(ctx context.Context, q querier) (indexState, error) {
	var st indexState
	var v, t int64
	if err := q.queryRow(ctx, selectIndexStateSQL).Scan(&v, &t, &st.phase, &st.cursor); err != nil {
		return st, fmt.Errorf("sqlstore: blind index state: %w", err)
	}
	st.version, st.target = uint32(v), uint32(t)
	return st, nil
}

// checkIndexKeys settles the blind-index version of a database that has
// none yet (an empty one: the keyring's newest version; one indexed before
// the version was recorded: its lowest, which keyed every index then) and
// refuses a keyring without the version(s) the indexes need.
func (s *Store) checkIndexKeys(ctx context.Context, ring *phi.Keyring, settle bool) error {
	st, err := s.indexState(ctx, s.read)
	if err != nil {
		return err
	}
	if st.version == 0 && settle {
		var rows int
		if err := s.write.queryRow(ctx, `SELECT (SELECT COUNT(*) FROM patients) + (SELECT COUNT(*) FROM practitioners)`).Scan(&rows); err != nil {
			return fmt.Errorf("sqlstore: blind index state: %w", err)
		}
		v := ring.CurrentVersion()
		if rows > 0 {
			v = ring.Versions()[0]
		}
		if _, err := s.write.exec(ctx, `UPDATE blind_index_state SET version = ?, target = ? WHERE id = 1 AND version = 0`, int64(v), int64(v)); err != nil {
			return fmt.Errorf("sqlstore: blind index state: %w", err)
		}
		if st, err = s.indexState(ctx, s.read); err != nil {
			return err
		}
	}
	var missing []uint32
	for _, v := range []uint32{st.version, st.target} {
		if v != 0 && !ring.HasVersion(v) {
			missing = appendNew(missing, v)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	where := fmt.Sprintf("the blind indexes (duplicate detection) are keyed with master key v%d", st.version)
	if st.target != st.version {
		where += fmt.Sprintf(" and a re-index to v%d is in progress", st.target)
	}
	return &KeyringError{Missing: missing, Reason: fmt.Sprintf("the PHI keyring cannot open this database: %s, and the keyring lacks %s: keep that version in the keyring until `novamed crypto rotate` has finished re-indexing; refusing to start", where, versionList(missing))}
}

// blindIndex returns, inside a write transaction, the blind index of value
// to store, and (while a re-index runs) the index under the version being
// left, which a duplicate may still carry.
func (s *Store) blindIndex(ctx context.Context, tx *txn, purpose, value string) (store, old string, err error) {
	var v, t int64
	if err := tx.queryRow(ctx, selectIndexVersionsSQL).Scan(&v, &t); err != nil {
		return "", "", fmt.Errorf("sqlstore: blind index state: %w", err)
	}
	s.noteIndexVersions(v, t)
	ring := s.keys.Load()
	if !ring.HasVersion(uint32(t)) || !ring.HasVersion(uint32(v)) {
		ring = s.reloadKeyring() // a rotation added the version a moment ago
	}
	if store, err = ring.BlindIndexWith(uint32(t), purpose, value); err != nil {
		return "", "", fmt.Errorf("sqlstore: blind index: %w", err)
	}
	if v != t {
		if old, err = ring.BlindIndexWith(uint32(v), purpose, value); err != nil {
			return "", "", fmt.Errorf("sqlstore: blind index: %w", err)
		}
	}
	return store, old, nil
}

const selectIndexVersionsSQL = `SELECT version, target FROM blind_index_state WHERE id = 1`

// indexedTables are the blind-indexed tables in re-index order, with the
// sealed columns each index is computed from.
var indexedTables = []struct {
	table, column string
	sealed        []string
	value         func(plain []string) (purpose, value string)
}{
	{"practitioners", "npi_index", []string{"npi"}, func(p []string) (string, string) { return "practitioner-npi", p[0] }},
	{"patients", "identity_index", []string{"first_name", "last_name", "date_of_birth"}, func(p []string) (string, string) {
		return "patient-identity", identityIndexValue(p[0], p[1], p[2])
	}},
}

// ReindexBlind moves every blind index to the keyring's current version,
// batchSize rows per transaction, so that an older version can be retired
// afterwards. It is resumable (the progress is in blind_index_state) and
// online: while it runs, writes store indexes under the new version and
// look for duplicates under both. It returns how many rows it changed; the
// indexes are on the current version when it returns without error.
func (s *Store) ReindexBlind(ctx context.Context, batchSize int) (int, error) {
	total := 0
	for {
		n, done, err := s.reindexBatch(ctx, batchSize)
		total += n
		if err != nil || done {
			return total, err
		}
	}
}

func (s *Store) reindexBatch(ctx context.Context, limit int) (changed int, done bool, err error) {
	err = s.inTx(ctx, func(tx *txn) error {
		changed, done = 0, false
		var v, t int64
		var st indexState
		if err := tx.queryRow(ctx, selectIndexStateSQL+s.syntax.forUpdate()).Scan(&v, &t, &st.phase, &st.cursor); err != nil {
			return fmt.Errorf("sqlstore: blind index state: %w", err)
		}
		st.version, st.target = uint32(v), uint32(t)
		ring := s.keys.Load()
		if st.version == st.target {
			if st.version == ring.CurrentVersion() {
				done = true
				return nil
			}
			st.target, st.phase, st.cursor = ring.CurrentVersion(), indexedTables[0].table, ""
			return s.saveIndexState(ctx, tx, st)
		}
		if !ring.HasVersion(st.target) {
			return fmt.Errorf("sqlstore: a re-index to master key v%d is in progress but this keyring lacks v%d", st.target, st.target)
		}
		i := 0
		for i < len(indexedTables) && indexedTables[i].table != st.phase {
			i++
		}
		if i == len(indexedTables) {
			return fmt.Errorf("sqlstore: blind index state names an unknown table %q", st.phase)
		}
		it := indexedTables[i]
		n, last, err := s.reindexRows(ctx, tx, ring, st.target, it.table, it.column, it.sealed, it.value, st.cursor, limit)
		if err != nil {
			return err
		}
		changed = n
		switch {
		case last != "":
			st.cursor = last
		case i+1 < len(indexedTables):
			st.phase, st.cursor = indexedTables[i+1].table, ""
		default:
			st.version, st.phase, st.cursor = st.target, "", ""
		}
		return s.saveIndexState(ctx, tx, st)
	})
	return changed, done, err
}

func (s *Store) saveIndexState(ctx context.Context, tx *txn, st indexState) error {
	_, err := tx.exec(ctx, `UPDATE blind_index_state SET version = ?, target = ?, phase = ?, cursor_id = ? WHERE id = 1`,
		int64(st.version), int64(st.target), st.phase, st.cursor)
	if err != nil {
		return fmt.Errorf("sqlstore: blind index state: %w", err)
	}
	return nil
}

// reindexRows recomputes the index of up to limit rows with id > after; it
// returns how many changed and the last id ("" when the table is done).
func (s *Store) reindexRows(ctx context.Context, tx *txn, ring *phi.Keyring, version uint32, table, column string, sealed []string,
	value func([]string) (string, string), after string, limit int) (int, string, error) {
	query := `SELECT id, clinic_id, ` + column
	for _, c := range sealed {
		query += ", " + c
	}
	rows, err := tx.query(ctx, query+` FROM `+table+` WHERE id > ? ORDER BY id LIMIT ?`+s.syntax.forUpdate(), after, limit)
	if err != nil {
		return 0, "", fmt.Errorf("sqlstore: re-index %s: %w", table, err)
	}
	type row struct {
		id, clinic, index string
		vals              []string
	}
	var batch []row
	for rows.Next() {
		r := row{vals: make([]string, len(sealed))}
		dest := []any{&r.id, &r.clinic, &r.index}
		for i := range r.vals {
			dest = append(dest, &r.vals[i])
		}
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return 0, "", fmt.Errorf("sqlstore: re-index %s: %w", table, err)
		}
		batch = append(batch, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, "", fmt.Errorf("sqlstore: re-index %s: %w", table, err)
	}
	changed, last := 0, ""
	for _, r := range batch {
		last = r.id
		o := &opener{s: s, ring: ring, table: table, row: r.id}
		plain := make([]string, len(sealed))
		for i, c := range sealed {
			plain[i] = o.str(c, r.vals[i])
		}
		if o.err != nil {
			return 0, "", fmt.Errorf("sqlstore: re-index: %w", o.err)
		}
		purpose, v := value(plain)
		idx, err := ring.BlindIndexWith(version, purpose, v)
		if err != nil {
			return 0, "", err
		}
		if idx == r.index {
			continue
		}
		_, err = tx.exec(ctx, `UPDATE `+table+` SET `+column+` = ? WHERE id = ?`, idx, r.id)
		if s.syntax.isUnique(err) {
			return 0, "", fmt.Errorf("sqlstore: re-index %s: row %s of clinic %s duplicates another row of that clinic (a duplicate accepted while the index key was missing); merge or remove one and run again: %w",
				table, r.id, r.clinic, novamed.ErrConflict)
		}
		if err != nil {
			return 0, "", fmt.Errorf("sqlstore: re-index %s: %w", table, err)
		}
		changed++
	}
	if len(batch) < limit {
		last = ""
	}
	return changed, last, nil
}

// BlindIndexVersions returns the master key version the blind indexes are
// keyed with and the one a running re-index moves them to (equal when
// none runs).
func (s *Store) BlindIndexVersions(ctx context.Context) (version, target uint32, err error) {
	st, err := s.indexState(ctx, s.read)
	return st.version, st.target, err
}

// duplicateUnder runs a SELECT id … inside tx: a row found is a
// *novamed.DuplicateError naming it.
func (s *Store) duplicateUnder(ctx context.Context, tx *txn, what, query string, args ...any) error {
	var id string
	err := tx.queryRow(ctx, query, args...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlstore: duplicate check: %w", err)
	}
	return &novamed.DuplicateError{What: what, ExistingID: id}
}
