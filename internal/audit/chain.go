package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
	return json.Marshal(&c)
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

// Verify walks the whole trail in order and returns the number of records
// checked, or a *BrokenError for the first record that was edited, removed
// or reordered.
func Verify(ctx context.Context, store novamed.AuditStore) (int64, error) {
	var n, want int64 = 0, 1
	prev := ""
	err := store.ScanAudit(ctx, time.Time{}, time.Time{}, func(rec *novamed.AuditRecord) error {
		if rec.Seq != want {
			return &BrokenError{Seq: want, Reason: fmt.Sprintf("expected record %d, found %d (missing or reordered)", want, rec.Seq)}
		}
		if rec.PrevHash != prev {
			return &BrokenError{Seq: rec.Seq, Reason: "previous-hash link does not match (a record before it was removed or changed)"}
		}
		b, err := Canonical(rec)
		if err != nil {
			return err
		}
		if Link(prev, b) != rec.Hash {
			return &BrokenError{Seq: rec.Seq, Reason: "hash does not match its content (edited)"}
		}
		prev, want, n = rec.Hash, want+1, n+1
		return nil
	})
	if err != nil {
		return n, err
	}
	headSeq, headHash, err := store.AuditHead(ctx)
	if err != nil {
		return n, err
	}
	if headSeq != n || headHash != prev {
		return n, &BrokenError{Seq: max(headSeq, n), Reason: fmt.Sprintf("the chain head names record %d but the trail ends at %d (newest records removed or head edited)", headSeq, n)}
	}
	return n, nil
}
