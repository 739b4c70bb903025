package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// Canonical returns the bytes a record's hash covers: its JSON without the
// hash itself. Times are UTC with microsecond precision so that the bytes
// survive a round trip through any store.
func Canonical(rec *novamed.AuditRecord) ([]byte, error) {
	c := *rec
	c.Time = c.Time.UTC().Truncate(time.Microsecond)
	c.Hash = ""
	if b, ok := appendCanonical(make([]byte, 0, 768), &c); ok {
		return b, nil
	}
	return json.Marshal(&c)
}

// appendCanonical appends json.Marshal's encoding of c, byte for byte, for
// the records every request makes: each string plain printable ASCII with
// nothing JSON would escape, a year JSON can encode. It reports false for
// anything else (a user agent with a quote, say), and Canonical falls back
// to json.Marshal. Encoding by hand: a fifth of the CPU json.Marshal took
// (BenchmarkCanonical); FuzzCanonical holds it to json.Marshal's bytes.
func appendCanonical(b []byte, c *novamed.AuditRecord) ([]byte, bool) {
	if y := c.Time.Year(); y < 0 || y >= 10000 {
		return nil, false
	}
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, c.Seq, 10)
	b = append(b, `,"time":"`...)
	b = c.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	ok := true
	field := func(name, v string, omitEmpty bool) {
		if v == "" && omitEmpty {
			return
		}
		ok = ok && plain(v)
		b = append(b, `,"`...)
		b = append(b, name...)
		b = append(b, `":"`...)
		b = append(b, v...)
		b = append(b, '"')
	}
	field("request_id", c.RequestID, false)
	field("client_request_id", c.ClientRequestID, true)
	field("key_id", c.KeyID, true)
	field("key_owner", c.KeyOwner, true)
	field("key_prefix", c.KeyPrefix, true)
	field("clinic_id", c.ClinicID, true)
	field("action", c.Action, false)
	field("resource_type", c.ResourceType, true)
	if len(c.ResourceIDs) > 0 {
		b = append(b, `,"resource_ids":[`...)
		for i, id := range c.ResourceIDs {
			if i > 0 {
				b = append(b, ',')
			}
			ok = ok && plain(id)
			b = append(b, '"')
			b = append(b, id...)
			b = append(b, '"')
		}
		b = append(b, ']')
	}
	field("client_addr", c.ClientAddr, true)
	field("user_agent", c.UserAgent, true)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(c.Status), 10)
	field("prev_hash", c.PrevHash, false)
	field("hash", c.Hash, false)
	b = append(b, '}')
	return b, ok
}

// plain reports whether json.Marshal writes s as it is: printable ASCII
// without '"', '\\' or the HTML characters it escapes.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// Link computes a record's hash from the previous hash and its canonical bytes.
func Link(prevHash string, canonical []byte) string {
	h := sha256.New()
	h.Write([]byte(prevHash))
	h.Write([]byte{'\n'})
	h.Write(canonical)
	return hex.EncodeToString(h.Sum(nil))
}

// Chain places rec after (seq, prevHash): it sets Seq, PrevHash and Hash and
// returns the canonical bytes to store.
func Chain(rec *novamed.AuditRecord, seq int64, prevHash string) ([]byte, error) {
	rec.Seq = seq
	rec.PrevHash = prevHash
	rec.Time = rec.Time.UTC().Truncate(time.Microsecond)
	b, err := Canonical(rec)
	if err != nil {
		return nil, fmt.Errorf("audit: encode record: %w", err)
	}
	rec.Hash = Link(prevHash, b)
	return b, nil
}

// BrokenError names the first record at which a chain fails verification.
type BrokenError struct {
	Seq    int64
	Reason string
}

func (e *BrokenError) Error() string {
	return fmt.Sprintf("audit chain broken at record %d: %s", e.Seq, e.Reason)
}

// Decode reads the record of a stored row: the hashed content, with the
// row's hash beside it. It returns a *BrokenError if the content is not a
// record.
func Decode(row *novamed.AuditRow) (*novamed.AuditRecord, error) {
	var rec novamed.AuditRecord
	if err := json.Unmarshal(row.Record, &rec); err != nil {
		return nil, &BrokenError{Seq: row.Seq, Reason: "record is not valid JSON"}
	}
	rec.Hash = row.Hash
	return &rec, nil
}

// checkRow reports how a stored row disagrees with the record it holds:
// its bytes must be exactly the canonical encoding of what they parse to
// (no extra, repeated or case-changed keys, no other spelling), and every
// column kept beside them (seq, at, prev_hash) must say what the hashed
// record says.
func checkRow(row *novamed.AuditRow, rec *novamed.AuditRecord) string {
	b, err := Canonical(rec)
	if err != nil {
		return "record cannot be encoded: " + err.Error()
	}
	if !bytes.Equal(b, row.Record) {
		return "stored bytes are not the canonical encoding of the record (edited: extra, repeated or re-cased keys, or other spelling)"
	}
	switch {
	case row.Seq != rec.Seq:
		return fmt.Sprintf("the seq column says %d but the hashed record says %d (edited)", row.Seq, rec.Seq)
	case !row.At.Equal(rec.Time.UTC().Truncate(time.Microsecond)):
		return fmt.Sprintf("the at column says %s but the hashed record says %s (edited)", row.At.UTC().Format(time.RFC3339Nano), rec.Time.UTC().Format(time.RFC3339Nano))
	case row.PrevHash != rec.PrevHash:
		return "the prev_hash column differs from the hashed record's (edited)"
	}
	return ""
}

// Verify walks the whole trail in order and returns the number of records
// checked, or a *BrokenError for the first record that was edited, removed
// or reordered.
//
// A live server may append while the trail is walked, so the chain head is
// read before the walk and again after it: the walk must reach the first
// head and find there the hash it names (newest records removed, or the
// head moved forward, otherwise), and must not run past the second (the
// head moved back). Records appended during the walk are checked like the
// rest.
func Verify(ctx context.Context, store novamed.AuditStore) (int64, error) {
	return verify(ctx, store, nil)
}

// verify is Verify, calling onRecord (when set) for every record that
// checks out, in chain order.
func verify(ctx context.Context, store novamed.AuditStore, onRecord func(*novamed.AuditRecord)) (int64, error) {
	headSeq, headHash, err := store.AuditHead(ctx)
	if err != nil {
		return 0, err
	}
	var n, want int64 = 0, 1
	prev, atHead := "", ""
	err = store.ScanAuditRows(ctx, func(row *novamed.AuditRow) error {
		rec, err := Decode(row)
		if err != nil {
			return err
		}
		if rec.Seq != want {
			return &BrokenError{Seq: want, Reason: fmt.Sprintf("expected record %d, found %d (missing or reordered)", want, rec.Seq)}
		}
		if rec.PrevHash != prev {
			return &BrokenError{Seq: rec.Seq, Reason: "previous-hash link does not match (a record before it was removed or changed)"}
		}
		if Link(prev, row.Record) != row.Hash {
			return &BrokenError{Seq: rec.Seq, Reason: "hash does not match its content (edited)"}
		}
		if reason := checkRow(row, rec); reason != "" {
			return &BrokenError{Seq: rec.Seq, Reason: reason}
		}
		if onRecord != nil {
			onRecord(rec)
		}
		if rec.Seq == headSeq {
			atHead = rec.Hash
		}
		prev, want, n = rec.Hash, want+1, n+1
		return nil
	})
	if err != nil {
		return n, err
	}
	if n < headSeq || atHead != headHash {
		return n, &BrokenError{Seq: max(headSeq, n), Reason: fmt.Sprintf("the chain head names record %d but the trail ends at %d or differs there (newest records removed or head edited)", headSeq, n)}
	}
	afterSeq, afterHash, err := store.AuditHead(ctx)
	if err != nil {
		return n, err
	}
	if afterSeq < n || (afterSeq == n && afterHash != prev) {
		return n, &BrokenError{Seq: n, Reason: fmt.Sprintf("the chain head names record %d but the trail ends at %d (head edited)", afterSeq, n)}
	}
	return n, nil
}
