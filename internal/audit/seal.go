package audit

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// Seal is the signed statement that closes a segment of the trail: records
// FirstSeq..LastSeq, the first linking to PrevHead (the previous segment's
// Head; "" before record 1) and the last having the hash Head. It is
// signed with the checkpoint key, kept in the database and beside the
// segment in the archive: segments link into one chain through their
// seals, so a missing, reordered or edited segment is named.
type Seal struct {
	Segment  int64     `json:"segment"`
	FirstSeq int64     `json:"first_seq"`
	LastSeq  int64     `json:"last_seq"`
	FirstAt  time.Time `json:"first_at"`
	LastAt   time.Time `json:"last_at"`
	Head     string    `json:"head"`
	PrevHead string    `json:"prev_head"`
	SealedAt time.Time `json:"sealed_at"`
	KeyID    string    `json:"key_id"`
	Sig      string    `json:"sig"` // base64 Ed25519 signature of signedMessage
}

func (s *Seal) signedMessage() []byte {
	f := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	return []byte("novamed audit seal v1\n" + strconv.FormatInt(s.Segment, 10) + "\n" + strconv.FormatInt(s.FirstSeq, 10) + "\n" +
		strconv.FormatInt(s.LastSeq, 10) + "\n" + f(s.FirstAt) + "\n" + f(s.LastAt) + "\n" + s.Head + "\n" + s.PrevHead + "\n" +
		f(s.SealedAt) + "\n" + s.KeyID)
}

// Sign fills KeyID and Sig with key's signature of the seal.
func (s *Seal) Sign(key ed25519.PrivateKey) {
	s.FirstAt, s.LastAt, s.SealedAt = s.FirstAt.UTC(), s.LastAt.UTC(), s.SealedAt.UTC().Truncate(time.Microsecond)
	s.KeyID = CheckpointKeyID(key.Public().(ed25519.PublicKey))
	s.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(key, s.signedMessage()))
}

// Check reports whether the seal was signed by pub (the verifier's own key,
// never one the seal names).
func (s *Seal) Check(pub ed25519.PublicKey) error {
	if s.KeyID != CheckpointKeyID(pub) {
		return fmt.Errorf("the seal of segment %d is signed by key %q, not the configured checkpoint key %q", s.Segment, s.KeyID, CheckpointKeyID(pub))
	}
	sig, err := base64.StdEncoding.DecodeString(s.Sig)
	if err != nil || !ed25519.Verify(pub, s.signedMessage(), sig) {
		return fmt.Errorf("the seal of segment %d has an invalid signature (forged or edited)", s.Segment)
	}
	return nil
}

// ParseSeal reads a seal as Marshal wrote it (unknown keys refused).
func ParseSeal(data []byte) (*Seal, error) {
	var s Seal
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("audit: seal: %w", err)
	}
	return &s, nil
}

// Walker checks rows of the trail one after another, from record Want
// linking to Prev: the checks Verify makes of each row.
type Walker struct {
	Want    int64  // the seq the next row must have
	Prev    string // the hash the next row must link to
	N       int64  // rows checked
	First   time.Time
	Last    time.Time
	OnCheck func(*novamed.AuditRecord)
	scratch []byte // the canonical encoding of the last record checked
}

// Next checks row and returns its record (with PrevHash and Hash set), or
// a *BrokenError.
func (w *Walker) Next(row *novamed.AuditRow) (*novamed.AuditRecord, error) {
	rec, err := Decode(row)
	if err != nil {
		return nil, err
	}
	return w.NextDecoded(row, rec)
}

// NextDecoded is Next for a record the caller has already decoded from
// row with Decode (and given row's hashes).
func (w *Walker) NextDecoded(row *novamed.AuditRow, rec *novamed.AuditRecord) (*novamed.AuditRecord, error) {
	if rec.Seq != w.Want {
		return nil, &BrokenError{Seq: w.Want, Reason: fmt.Sprintf("expected record %d, found %d (missing or reordered)", w.Want, rec.Seq)}
	}
	if rec.Format < 2 && rec.PrevHash != w.Prev {
		return nil, &BrokenError{Seq: rec.Seq, Reason: "previous-hash link does not match (a record before it was removed or changed)"}
	}
	if Link(w.Prev, row.Record) != row.Hash {
		if rec.Format >= 2 {
			return nil, &BrokenError{Seq: rec.Seq, Reason: "hash does not match its content and the previous record's hash (edited, or a record before it changed)"}
		}
		return nil, &BrokenError{Seq: rec.Seq, Reason: "hash does not match its content (edited)"}
	}
	if reason := checkRow(row, rec, &w.scratch); reason != "" {
		return nil, &BrokenError{Seq: rec.Seq, Reason: reason}
	}
	rec.PrevHash = w.Prev
	if w.N == 0 {
		w.First = rec.Time
	}
	w.Last = rec.Time
	w.Prev, w.Want, w.N = rec.Hash, w.Want+1, w.N+1
	if w.OnCheck != nil {
		w.OnCheck(rec)
	}
	return rec, nil
}

// Segment is a sealed segment as the live database lists it.
type Segment struct {
	Seal
	RecordBytes   int64      // the records' canonical bytes, uncompressed
	ArchiveURL    string     // the archive it was written to ("" until archived)
	ArchiveObject string     // its records' object in that archive
	ArchiveBytes  int64      // the object's size (compressed)
	ArchivedAt    *time.Time // written and read back intact
	PrunedAt      *time.Time // its records deleted from the live trail
}
