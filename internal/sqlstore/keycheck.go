package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/novamed/partner-api/internal/phi"
)

// KeyringError says why a keyring cannot be used with this database: a
// version the data needs is missing, or a version holds another master key
// than the one the database knows under that version.
type KeyringError struct {
	Missing    []uint32 // versions the database needs that the keyring lacks
	Mismatched []uint32 // versions whose key differs from the database's
	Reason     string   // the sentence for the operator
}

func (e *KeyringError) Error() string { return e.Reason }

// CheckKeyring checks ring against this database, and records the
// key-check value of each of its versions the database does not know yet
// (a new version added by crypto rotate, or the first key of an empty
// database). It is called when the store opens and before a reloaded
// keyring is used; see KeyringError for what it refuses.
func (s *Store) CheckKeyring(ctx context.Context, ring *phi.Keyring) error {
	return s.checkKeyring(ctx, ring, true)
}

// checkKeyring is CheckKeyring; without record it only reads (it may then
// run while this process holds the write connection) and accepts versions
// the database does not know yet.
func (s *Store) checkKeyring(ctx context.Context, ring *phi.Keyring, record bool) error {
	stored, err := s.keyChecks(ctx)
	if err != nil {
		return err
	}
	var missing, mismatched, unknown []uint32
	for _, v := range ring.Versions() {
		check, _ := ring.KeyCheck(v)
		switch st, ok := stored[v]; {
		case !ok:
			unknown = append(unknown, v)
		case st.check != check:
			mismatched = append(mismatched, v)
		}
	}
	for v, st := range stored {
		if !ring.HasVersion(v) && !st.retired {
			missing = append(missing, v)
		}
	}
	if len(stored) == 0 {
		// No key-check value yet: an empty database, or one sealed before
		// key checks existed. Whatever it holds must open with this ring.
		m, mm, err := s.probeSealed(ctx, ring)
		if err != nil {
			return err
		}
		missing, mismatched = append(missing, m...), append(mismatched, mm...)
	}
	if err := keyringError(missing, mismatched); err != nil {
		return err
	}
	if !record {
		return s.checkIndexKeys(ctx, ring, false)
	}
	if len(unknown) > 0 {
		err := s.inTx(ctx, func(tx *txn) error {
			for _, v := range unknown {
				check, _ := ring.KeyCheck(v)
				if _, err := tx.exec(ctx, `INSERT INTO key_checks (version, check_value, created_at) VALUES (?, ?, ?) ON CONFLICT (version) DO NOTHING`,
					int64(v), check, micros(s.now())); err != nil {
					return fmt.Errorf("sqlstore: record key check: %w", err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		// Another process may have recorded another key under the same
		// version a moment before: compare with what is stored now.
		if stored, err = s.keyChecks(ctx); err != nil {
			return err
		}
		for _, v := range unknown {
			if check, _ := ring.KeyCheck(v); stored[v].check != check {
				mismatched = append(mismatched, v)
			}
		}
		if err := keyringError(nil, mismatched); err != nil {
			return err
		}
	}
	return s.checkIndexKeys(ctx, ring, true)
}

func keyringError(missing, mismatched []uint32) error {
	if len(missing) == 0 && len(mismatched) == 0 {
		return nil
	}
	slices.Sort(missing)
	slices.Sort(mismatched)
	var parts []string
	if len(mismatched) > 0 {
		parts = append(parts, fmt.Sprintf("master key %s of this keyring is not the key this database's data is sealed under (its key-check value differs): this is another database's key, or a newly generated one", versionList(mismatched)))
	}
	if len(missing) > 0 {
		parts = append(parts, fmt.Sprintf("this database needs master key %s (data is sealed under it, or crypto rotate has not retired it) and the keyring lacks it", versionList(missing)))
	}
	return &KeyringError{Missing: missing, Mismatched: mismatched,
		Reason: "the PHI keyring cannot open this database: " + strings.Join(parts, "; ") + "; refusing to start"}
}

func versionList(vs []uint32) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmt.Sprintf("v%d", v)
	}
	return strings.Join(out, ", ")
}

type keyCheck struct {
	check   string
	retired bool
}

func (s *Store) keyChecks(ctx context.Context) (map[uint32]keyCheck, error) {
	rows, err := s.read.query(ctx, `SELECT version, check_value, retired_at FROM key_checks`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: key checks: %w", err)
	}
	defer rows.Close()
	out := map[uint32]keyCheck{}
	for rows.Next() {
		var v int64
		var kc keyCheck
		var retired sql.NullInt64
		if err := rows.Scan(&v, &kc.check, &retired); err != nil {
			return nil, fmt.Errorf("sqlstore: key checks: %w", err)
		}
		kc.retired = retired.Valid
		out[uint32(v)] = kc
	}
	return out, rows.Err()
}

// probeSealed opens the first row of every table with sealed columns and
// reports the versions the ring lacks or holds another key under.
func (s *Store) probeSealed(ctx context.Context, ring *phi.Keyring) (missing, mismatched []uint32, err error) {
	for _, t := range sealedColumns {
		vals := make([]string, len(t.columns))
		dest := []any{new(string)}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		err := s.read.queryRow(ctx, `SELECT id, `+strings.Join(t.columns, ", ")+` FROM `+t.table+` ORDER BY id LIMIT 1`).Scan(dest...)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("sqlstore: probe %s: %w", t.table, err)
		}
		id := *dest[0].(*string)
		for i, col := range t.columns {
			if vals[i] == "" {
				continue
			}
			v, verr := ring.VersionOf(vals[i])
			_, oerr := ring.Open(t.table, col, id, vals[i])
			switch {
			case verr != nil:
			case errors.Is(oerr, phi.ErrUnknownKeyVersion):
				missing = appendNew(missing, v)
			case oerr != nil:
				mismatched = appendNew(mismatched, v)
			}
		}
	}
	return missing, mismatched, nil
}

func appendNew(vs []uint32, v uint32) []uint32 {
	if slices.Contains(vs, v) {
		return vs
	}
	return append(vs, v)
}

// RetireKeyVersions marks as retired every version below the keyring's
// current one that no sealed value and no blind index uses any more, so
// that processes may start without it; it returns every version of the
// keyring that is retired now. crypto rotate
// calls it once re-sealing and re-indexing are done.
func (s *Store) RetireKeyVersions(ctx context.Context) ([]uint32, error) {
	ring := s.keys.Load()
	counts, err := s.SealedVersions(ctx)
	if err != nil {
		return nil, err
	}
	st, err := s.indexState(ctx, s.write)
	if err != nil {
		return nil, err
	}
	var retired []uint32
	for _, v := range ring.Versions() {
		if v >= ring.CurrentVersion() || counts[v] > 0 || v == st.version || v == st.target {
			continue
		}
		if _, err := s.write.exec(ctx, `UPDATE key_checks SET retired_at = ? WHERE version = ? AND retired_at IS NULL`, micros(s.now()), int64(v)); err != nil {
			return nil, fmt.Errorf("sqlstore: retire key version: %w", err)
		}
		retired = append(retired, v)
	}
	return retired, nil
}
