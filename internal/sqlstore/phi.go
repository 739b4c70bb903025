package sqlstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/novamed/partner-api/internal/phi"
)

// sealer seals the PHI columns of one row; the first error sticks.
type sealer struct {
	ring  *phi.Keyring
	table string
	row   string
	err   error
}

func (s *Store) sealer(table, row string) *sealer {
	return &sealer{ring: s.keys.Load(), table: table, row: row}
}

func (z *sealer) str(column, v string) string {
	if z.err != nil {
		return ""
	}
	out, err := z.ring.SealString(z.table, column, z.row, v)
	if err != nil {
		z.err = fmt.Errorf("sqlstore: seal %s.%s: %w", z.table, column, err)
	}
	return out
}

func (z *sealer) json(column string, v any) string {
	if z.err != nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		z.err = fmt.Errorf("sqlstore: encode %s.%s: %w", z.table, column, err)
		return ""
	}
	return z.str(column, string(b))
}

// opener opens the PHI columns of one row; the first error sticks and names
// the table, column and row (never the content).
type opener struct {
	s     *Store
	ring  *phi.Keyring
	table string
	row   string
	err   error
}

func (s *Store) opener(table, row string) *opener {
	return &opener{s: s, ring: s.keys.Load(), table: table, row: row}
}

func (o *opener) str(column, sealed string) string {
	if o.err != nil {
		return ""
	}
	out, err := o.ring.OpenString(o.table, column, o.row, sealed)
	if errors.Is(err, phi.ErrUnknownKeyVersion) {
		// Sealed under a version added since this store loaded its keys.
		o.ring = o.s.reloadKeyring()
		out, err = o.ring.OpenString(o.table, column, o.row, sealed)
	}
	if err != nil {
		o.err = fmt.Errorf("sqlstore: open %s.%s of row %s: %w", o.table, column, o.row, err)
	}
	return out
}

func (o *opener) json(column, sealed string, v any) {
	o.decode(column, sealed, func(b []byte) error { return json.Unmarshal(b, v) })
}

// decode opens a sealed JSON column and decodes it with dec (not called
// for an empty column).
func (o *opener) decode(column, sealed string, dec func([]byte) error) {
	if o.err != nil || sealed == "" {
		return
	}
	// Opened to bytes and decoded from them: no string copy between.
	text, err := o.ring.Open(o.table, column, o.row, sealed)
	if errors.Is(err, phi.ErrUnknownKeyVersion) {
		o.ring = o.s.reloadKeyring()
		text, err = o.ring.Open(o.table, column, o.row, sealed)
	}
	if err != nil {
		o.err = fmt.Errorf("sqlstore: open %s.%s of row %s: %w", o.table, column, o.row, err)
		return
	}
	if len(text) == 0 {
		return
	}
	if err := dec(text); err != nil {
		o.err = fmt.Errorf("sqlstore: decode %s.%s of row %s: %w", o.table, column, o.row, err)
	}
}

// identityIndexValue is what the patient identity blind index hashes: names
// in one form (format characters such as a zero-width space dropped, NFKC,
// lower case) and the birth date. Validation already refuses names with
// format characters; dropping them here as well keeps the index blind to
// them whatever path a name takes. A name that is already NFKC and free of
// format characters yields the same value as before this normalisation, so
// existing rows keep their index (docs/decisions.md).
func identityIndexValue(first, last, dob string) string {
	return identityName(first) + "\x00" + identityName(last) + "\x00" + dob
}

func identityName(s string) string {
	if strings.ContainsFunc(s, isFormat) {
		s = strings.Map(func(r rune) rune {
			if isFormat(r) {
				return -1
			}
			return r
		}, s)
	}
	return strings.ToLower(norm.NFKC.String(s))
}

func isFormat(r rune) bool { return unicode.Is(unicode.Cf, r) }
