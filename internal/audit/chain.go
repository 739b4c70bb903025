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

// FormatVersion is the canonical encoding new records are chained in.
//
// Version 1 (records without a "v" key) is json.Marshal of the record with
// its long keys, RFC 3339 time and the previous record's hash as hex inside
// it. Version 2 starts {"v":2,…}: short keys, the time as Unix
// microseconds, and no previous hash, which the link already covers (a
// record's hash is SHA-256 of the previous hash and its bytes). Records
// are hashed as written and never rewritten: a trail may hold both.
const FormatVersion = 2

// Canonical returns the bytes a record's hash covers, in the record's
// Format: its JSON without the hash itself. Times are UTC with microsecond
// precision so that the bytes survive a round trip through any store.
func Canonical(rec *novamed.AuditRecord) ([]byte, error) {
	return AppendCanonical(make([]byte, 0, 768), rec)
}

// AppendCanonical appends Canonical(rec) to b: a caller checking many
// records reuses one buffer.
func AppendCanonical(b []byte, rec *novamed.AuditRecord) ([]byte, error) {
	if rec.Format >= 2 {
		return appendCanonicalV2(b, rec)
	}
	c := *rec
	c.Time = c.Time.UTC().Truncate(time.Microsecond)
	c.Hash = ""
	c.Format = 0
	n := len(b)
	if out, ok := appendCanonical(b, &c); ok {
		return out, nil
	}
	out, err := json.Marshal(&c)
	return append(b[:n], out...), err
}

// recordV2 is the version 2 encoding of a record, key by key.
type recordV2 struct {
	V               int      `json:"v"`
	Seq             int64    `json:"seq"`
	T               int64    `json:"t"`
	RequestID       string   `json:"rid"`
	ClientRequestID string   `json:"crid,omitempty"`
	Actor           string   `json:"actor,omitempty"`
	KeyID           string   `json:"kid,omitempty"`
	KeyOwner        string   `json:"owner,omitempty"`
	KeyPrefix       string   `json:"kpfx,omitempty"`
	ClinicID        string   `json:"clinic,omitempty"`
	Action          string   `json:"act"`
	ResourceType    string   `json:"rtype,omitempty"`
	ResourceIDs     []string `json:"rids,omitempty"`
	ClientAddr      string   `json:"addr,omitempty"`
	UserAgent       string   `json:"ua,omitempty"`
	Status          int      `json:"st"`
	LatencyUS       int64    `json:"lat,omitempty"`
}

func toV2(c *novamed.AuditRecord) *recordV2 {
	return &recordV2{V: 2, Seq: c.Seq, T: c.Time.UnixMicro(), RequestID: c.RequestID, ClientRequestID: c.ClientRequestID,
		Actor: c.Actor, KeyID: c.KeyID, KeyOwner: c.KeyOwner, KeyPrefix: c.KeyPrefix, ClinicID: c.ClinicID,
		Action: c.Action, ResourceType: c.ResourceType, ResourceIDs: c.ResourceIDs, ClientAddr: c.ClientAddr,
		UserAgent: c.UserAgent, Status: c.Status, LatencyUS: c.LatencyUS}
}

func (v *recordV2) record() *novamed.AuditRecord {
	return &novamed.AuditRecord{Seq: v.Seq, Time: time.UnixMicro(v.T).UTC(), RequestID: v.RequestID,
		ClientRequestID: v.ClientRequestID, Actor: v.Actor, KeyID: v.KeyID, KeyOwner: v.KeyOwner,
		KeyPrefix: v.KeyPrefix, ClinicID: v.ClinicID, Action: v.Action, ResourceType: v.ResourceType,
		ResourceIDs: v.ResourceIDs, ClientAddr: v.ClientAddr, UserAgent: v.UserAgent, Status: v.Status,
		LatencyUS: v.LatencyUS, Format: v.V}
}

// appendCanonicalV2 appends json.Marshal of the record's recordV2 (its
// time in microseconds), encoded by hand for plain strings (as
// appendCanonical does for version 1), without copying the record.
func appendCanonicalV2(b []byte, rec *novamed.AuditRecord) ([]byte, error) {
	n := len(b)
	b = append(b, `{"v":2,"seq":`...)
	b = strconv.AppendInt(b, rec.Seq, 10)
	b = append(b, `,"t":`...)
	b = strconv.AppendInt(b, rec.Time.UTC().Truncate(time.Microsecond).UnixMicro(), 10)
	b, ok := appendFields(b, rec, namesV2())
	b = append(b, '}')
	if ok {
		return b, nil
	}
	c := *rec
	c.Time = c.Time.UTC().Truncate(time.Microsecond)
	out, err := json.Marshal(toV2(&c))
	return append(b[:n], out...), err
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
	b, ok := appendFields(b, c, namesV1())
	field := func(name, v string) {
		ok = ok && plain(v)
		b = append(b, `,"`...)
		b = append(b, name...)
		b = append(b, `":"`...)
		b = append(b, v...)
		b = append(b, '"')
	}
	field("prev_hash", c.PrevHash)
	field("hash", c.Hash)
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
	var sum [sha256.Size]byte
	var buf [1536]byte // hashed in one call, without allocating, when it fits
	if len(prevHash)+1+len(canonical) <= len(buf) {
		sum = sha256.Sum256(append(append(append(buf[:0], prevHash...), '\n'), canonical...))
	} else {
		h := sha256.New()
		h.Write([]byte(prevHash))
		h.Write([]byte{'\n'})
		h.Write(canonical)
		h.Sum(sum[:0])
	}
	return hex.EncodeToString(sum[:])
}

// Chain places rec after (seq, prevHash): it sets Seq, PrevHash, Hash and
// Format (FormatVersion) and returns the canonical bytes to store.
func Chain(rec *novamed.AuditRecord, seq int64, prevHash string) ([]byte, error) {
	rec.Seq = seq
	rec.PrevHash = prevHash
	rec.Format = FormatVersion
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
//
// A version 2 record does not hold its previous hash: it is taken from the
// row (the previous record's hash, as the store reads the trail in order).
func Decode(row *novamed.AuditRow) (*novamed.AuditRecord, error) {
	if bytes.HasPrefix(row.Record, []byte(`{"v":`)) {
		v, ok := decodeV2(row.Record)
		if !ok {
			v = recordV2{}
			if err := json.Unmarshal(row.Record, &v); err != nil {
				return nil, &BrokenError{Seq: row.Seq, Reason: "record is not valid JSON"}
			}
		}
		if v.V != 2 {
			return nil, &BrokenError{Seq: row.Seq, Reason: fmt.Sprintf("record format version %d is unknown", v.V)}
		}
		rec := v.record()
		rec.PrevHash, rec.Hash = row.PrevHash, row.Hash
		return rec, nil
	}
	var rec novamed.AuditRecord
	if err := json.Unmarshal(row.Record, &rec); err != nil {
		return nil, &BrokenError{Seq: row.Seq, Reason: "record is not valid JSON"}
	}
	rec.Hash, rec.Format = row.Hash, 1
	return &rec, nil
}

// checkRow reports how a stored row disagrees with the record it holds:
// its bytes must be exactly the canonical encoding of what they parse to
// (no extra, repeated or case-changed keys, no other spelling), and every
// column kept beside them (seq, at, prev_hash) must say what the hashed
// record says.
func checkRow(row *novamed.AuditRow, rec *novamed.AuditRecord, scratch *[]byte) string {
	b, err := AppendCanonical((*scratch)[:0], rec)
	*scratch = b
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
	case rec.Format < 2 && row.PrevHash != rec.PrevHash:
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
	var base int64
	prev, atHead := "", ""
	if p, ok := store.(Pruned); ok {
		if base, prev, err = p.AuditBase(ctx); err != nil {
			return 0, err
		}
	}
	if base == headSeq {
		atHead = prev
	}
	w := &Walker{Want: base + 1, Prev: prev, OnCheck: onRecord}
	err = store.ScanAuditRows(ctx, func(row *novamed.AuditRow) error {
		rec, err := w.Next(row)
		if err != nil {
			return err
		}
		if rec.Seq == headSeq {
			atHead = rec.Hash
		}
		return nil
	})
	n, prev := w.N, w.Prev
	if err != nil {
		return n, err
	}
	last := base + n
	if last < headSeq || atHead != headHash {
		return n, &BrokenError{Seq: max(headSeq, last), Reason: fmt.Sprintf("the chain head names record %d but the trail ends at %d or differs there (newest records removed or head edited)", headSeq, last)}
	}
	afterSeq, afterHash, err := store.AuditHead(ctx)
	if err != nil {
		return n, err
	}
	if afterSeq < last || (afterSeq == last && afterHash != prev) {
		return n, &BrokenError{Seq: last, Reason: fmt.Sprintf("the chain head names record %d but the trail ends at %d (head edited)", afterSeq, last)}
	}
	return n, nil
}

// Pruned is a store whose oldest records may have been pruned after they
// were archived: AuditBase names the last pruned record and its hash (0
// and "" when none was), where the live trail must continue. Archive
// verification checks that record against its signed seal.
type Pruned interface {
	AuditBase(ctx context.Context) (seq int64, hash string, err error)
}

// fieldNames are the JSON names one canonical format gives the fields both
// formats share, in the order both write them.
type fieldNames struct {
	requestID, clientRequestID, actor, keyID, keyOwner, keyPrefix, clinicID,
	action, resourceType, resourceIDs, clientAddr, userAgent, status, latency string
}

// The names of formats 1 and 2 (constants: Go has no constant structs).
func namesV1() fieldNames {
	return fieldNames{"request_id", "client_request_id", "actor", "key_id", "key_owner", "key_prefix", "clinic_id",
		"action", "resource_type", "resource_ids", "client_addr", "user_agent", "status", "latency_us"}
}

func namesV2() fieldNames {
	return fieldNames{"rid", "crid", "actor", "kid", "owner", "kpfx", "clinic",
		"act", "rtype", "rids", "addr", "ua", "st", "lat"}
}

// appendFields appends the fields formats 1 and 2 share, from the request
// id to the latency, under format n's names, as json.Marshal writes them
// for plain strings; it reports false when a string is not plain.
func appendFields(b []byte, c *novamed.AuditRecord, n fieldNames) ([]byte, bool) {
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
	field(n.requestID, c.RequestID, false)
	field(n.clientRequestID, c.ClientRequestID, true)
	field(n.actor, c.Actor, true)
	field(n.keyID, c.KeyID, true)
	field(n.keyOwner, c.KeyOwner, true)
	field(n.keyPrefix, c.KeyPrefix, true)
	field(n.clinicID, c.ClinicID, true)
	field(n.action, c.Action, false)
	field(n.resourceType, c.ResourceType, true)
	if len(c.ResourceIDs) > 0 {
		b = append(b, `,"`...)
		b = append(b, n.resourceIDs...)
		b = append(b, `":[`...)
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
	field(n.clientAddr, c.ClientAddr, true)
	field(n.userAgent, c.UserAgent, true)
	b = append(b, `,"`...)
	b = append(b, n.status...)
	b = append(b, `":`...)
	b = strconv.AppendInt(b, int64(c.Status), 10)
	if c.LatencyUS != 0 {
		b = append(b, `,"`...)
		b = append(b, n.latency...)
		b = append(b, `":`...)
		b = strconv.AppendInt(b, c.LatencyUS, 10)
	}
	return b, ok
}
