package auditarchive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/novamed/partner-api/internal/audit"
	"github.com/novamed/partner-api/internal/novamed"
)

// The archive's record encodings. An object's first bytes say which:
//
//   - gzip (1f 8b): archive format 1, one canonical record a line (segments
//     archived before format 2; still read, never written).
//   - "NMA2": archive format 2, columnar, then one zstd frame. Every format 2
//     record (audit.FormatVersion 2) whose bytes are exactly the canonical
//     encoding of its fields is split into columns — time as the delta from
//     the record before, uuids as 16 raw bytes, repeated values (the key,
//     owner, clinic tuple, the action, user agent, address, resource ids)
//     as a reference into a dictionary built as the segment is read — and
//     any other record (format 1, or bytes not canonical) is kept as it is.
//     The seq of record i is the header's first seq plus i, and no record
//     carries the previous hash (the chain recomputes it). Decoding
//     re-encodes each record with audit.Canonical: the bytes come back
//     identical, so the hashes, the chain and the seal verify as written.
const (
	archiveMagic2 = "NMA2"
	codecVersion  = 2
)

// column numbers of format 2, in the order they are written.
const (
	colKind    = iota // per record: kindColumns or kindRaw
	colRaw            // kindRaw records: length, bytes
	colTime           // zigzag varint delta of Unix µs from the record before
	colRIDPfx         // request id up to its last '_' (dictionary)
	colRIDLen         // request id's rest: its length...
	colRIDText        // ...and its bytes
	colCRID           // client request id (id coding, no dictionary)
	colKey            // actor, key id, owner, key prefix, clinic (dictionary of tuples)
	colAction         // action, resource type (dictionary of pairs)
	colRIDs           // resource id count
	colRes            // resource ids (id coding, dictionary)
	colAddr           // client address (dictionary)
	colUA             // user agent (dictionary)
	colStatus         // status, varint
	colLatency        // latency µs, zigzag varint
	colUUID           // 16-byte uuids of the id codings
	colText           // new dictionary values and non-uuid ids: length, bytes
	numCols
)

const (
	kindColumns = 0
	kindRaw     = 1
)

// id codings: idEmpty, idUUID (16 bytes follow in colUUID), idText (a
// string follows in colText), or idRef+k (dictionary entry k).
const (
	idEmpty = iota
	idUUID
	idText
	idRef
)

type colWriter struct {
	cols [numCols]bytes.Buffer
	// dictionaries: value -> index, per column.
	dicts [numCols]map[string]uint64
}

func (w *colWriter) uvarint(c int, v uint64) {
	var b [binary.MaxVarintLen64]byte
	w.cols[c].Write(b[:binary.PutUvarint(b[:], v)])
}

func (w *colWriter) varint(c int, v int64) {
	var b [binary.MaxVarintLen64]byte
	w.cols[c].Write(b[:binary.PutVarint(b[:], v)])
}

func (w *colWriter) text(s string) {
	w.uvarint(colText, uint64(len(s)))
	w.cols[colText].WriteString(s)
}

// dict writes v to column c as a reference (index+1) to a value seen
// before in the segment, or 0 and the value.
func (w *colWriter) dict(c int, v string) {
	if w.dicts[c] == nil {
		w.dicts[c] = map[string]uint64{}
	}
	if k, ok := w.dicts[c][v]; ok {
		w.uvarint(c, k+1)
		return
	}
	w.dicts[c][strings.Clone(v)] = uint64(len(w.dicts[c])) // v may share a whole record's string
	w.uvarint(c, 0)
	w.text(v)
}

// id writes an identifier to column c: a uuid as 16 bytes, anything else
// as text, either as a dictionary reference when useDict and seen before.
func (w *colWriter) id(c int, v string, useDict bool) {
	if v == "" {
		w.uvarint(c, idEmpty)
		return
	}
	if useDict {
		if w.dicts[c] == nil {
			w.dicts[c] = map[string]uint64{}
		}
		if k, ok := w.dicts[c][v]; ok {
			w.uvarint(c, idRef+k)
			return
		}
		w.dicts[c][strings.Clone(v)] = uint64(len(w.dicts[c])) // v may share a whole record's string
	}
	if u, ok := parseUUID(v); ok {
		w.uvarint(c, idUUID)
		w.cols[colUUID].Write(u[:])
		return
	}
	w.uvarint(c, idText)
	w.text(v)
}

// parseUUID reads the canonical lower-case form of a uuid (the form that
// formatUUID gives back).
func parseUUID(s string) (u [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	h := s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	if strings.ToLower(h) != h {
		return u, false
	}
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, false
	}
	return u, true
}

func formatUUID(u []byte) string {
	h := hex.EncodeToString(u)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// EncodeRecords encodes a segment's canonical records, the first being
// record first, in archive format 2 (see archiveMagic2).
func EncodeRecords(first int64, records [][]byte) ([]byte, error) {
	e := newSegmentEncoder(first)
	for _, raw := range records {
		e.add(raw, nil)
	}
	return e.finish(context.Background(), nil, nil)
}

// segmentEncoder builds a segment's format 2 object a record at a time:
// what it holds until finish is the columns (a fraction of the records'
// bytes), never the records themselves, so a pass's memory does not grow
// with a copy of the segment (docs/performance.md, "Memory of the archive
// pass").
type segmentEncoder struct {
	w     colWriter
	first int64
	n     int64
	prevT int64
}

func newSegmentEncoder(first int64) *segmentEncoder { return &segmentEncoder{first: first} }

// add encodes the segment's next record. rec, when given, is the record as
// an audit.Walker returned it: decoded, and its bytes checked to be its
// canonical encoding, so neither is done again here.
func (e *segmentEncoder) add(raw []byte, rec *novamed.AuditRecord) {
	w := &e.w
	seq := e.first + e.n
	e.n++
	checked := rec != nil
	var err error
	if !checked {
		rec, err = audit.Decode(&novamed.AuditRow{Seq: seq, Record: raw})
	}
	columnar := err == nil && rec.Format == 2 && rec.Seq == seq &&
		!strings.Contains(rec.Actor+rec.KeyID+rec.KeyOwner+rec.KeyPrefix+rec.ClinicID+rec.Action+rec.ResourceType, "\x00")
	if columnar && !checked {
		canon, err := audit.Canonical(rec)
		columnar = err == nil && bytes.Equal(canon, raw)
	}
	if !columnar {
		w.cols[colKind].WriteByte(kindRaw)
		w.uvarint(colRaw, uint64(len(raw)))
		w.cols[colRaw].Write(raw)
		return
	}
	w.cols[colKind].WriteByte(kindColumns)
	t := rec.Time.UnixMicro()
	w.varint(colTime, t-e.prevT)
	e.prevT = t
	cut := strings.LastIndexByte(rec.RequestID, '_') + 1
	w.dict(colRIDPfx, rec.RequestID[:cut])
	w.uvarint(colRIDLen, uint64(len(rec.RequestID)-cut))
	w.cols[colRIDText].WriteString(rec.RequestID[cut:])
	w.id(colCRID, rec.ClientRequestID, false)
	w.dict(colKey, strings.Join([]string{rec.Actor, rec.KeyID, rec.KeyOwner, rec.KeyPrefix, rec.ClinicID}, "\x00"))
	w.dict(colAction, rec.Action+"\x00"+rec.ResourceType)
	w.uvarint(colRIDs, uint64(len(rec.ResourceIDs)))
	for _, id := range rec.ResourceIDs {
		w.id(colRes, id, true)
	}
	w.dict(colAddr, rec.ClientAddr)
	w.dict(colUA, rec.UserAgent)
	w.uvarint(colStatus, uint64(rec.Status))
	w.varint(colLatency, rec.LatencyUS)
}

// finish compresses the header and the columns into the object, paced by
// p (nil: at full speed), streaming each column into the compressor a
// chunk at a time (no second, concatenated copy of the columns), and
// releasing each column once it is written.
func (e *segmentEncoder) finish(ctx context.Context, p *pacer, z *zstdCoders) ([]byte, error) {
	w := &e.w
	var head bytes.Buffer
	var b [binary.MaxVarintLen64]byte
	for _, v := range []uint64{codecVersion, uint64(e.first), uint64(e.n)} {
		head.Write(b[:binary.PutUvarint(b[:], v)])
	}
	for c := range w.cols {
		head.Write(b[:binary.PutUvarint(b[:], uint64(w.cols[c].Len()))])
	}
	w.dicts = [numCols]map[string]uint64{}
	out := bytes.NewBufferString(archiveMagic2)
	enc, done, err := z.encoder(out)
	if err != nil {
		return nil, err
	}
	defer done()
	// Paced, a chunk at a time, pausing between chunks (one call would be
	// a burst of a core for a large segment).
	write := func(b []byte) error {
		for len(b) > 0 {
			n := min(len(b), encodeChunk)
			if _, err := enc.Write(b[:n]); err != nil {
				return err
			}
			b = b[n:]
			if err := p.pause(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	if err := write(head.Bytes()); err != nil {
		enc.Close()
		return nil, err
	}
	for c := range w.cols {
		if err := write(w.cols[c].Bytes()); err != nil {
			enc.Close()
			return nil, err
		}
		w.cols[c] = bytes.Buffer{}
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// encodeChunk is how much a paced encode compresses between pauses (a
// quarter of a zstd block: about a millisecond).
const encodeChunk = 32 << 10

// archiveLevel: "better" is within 1 % of "best" in size for audit
// columns (48.8 against 48.3 bytes a record) at less CPU, which the
// request path shares.
const archiveLevel = zstd.SpeedBetterCompression

var errCorrupt = errors.New("archived records are not readable (edited or truncated)")

type colReader struct {
	cols  [numCols]*bytes.Reader
	dicts [numCols][]string
	err   error
}

func (r *colReader) uvarint(c int) uint64 {
	v, err := binary.ReadUvarint(r.cols[c])
	if err != nil && r.err == nil {
		r.err = errCorrupt
	}
	return v
}

func (r *colReader) varint(c int) int64 {
	v, err := binary.ReadVarint(r.cols[c])
	if err != nil && r.err == nil {
		r.err = errCorrupt
	}
	return v
}

func (r *colReader) bytes(c int, n uint64) []byte {
	if n > uint64(r.cols[c].Len()) {
		r.err = errCorrupt
		return nil
	}
	b := make([]byte, n)
	r.cols[c].Read(b) //nolint:errcheck // length checked above
	return b
}

func (r *colReader) text() string { return string(r.bytes(colText, r.uvarint(colText))) }

func (r *colReader) dict(c int) string {
	k := r.uvarint(c)
	if k == 0 {
		v := r.text()
		r.dicts[c] = append(r.dicts[c], v)
		return v
	}
	if k-1 >= uint64(len(r.dicts[c])) {
		r.err = errCorrupt
		return ""
	}
	return r.dicts[c][k-1]
}

func (r *colReader) id(c int, useDict bool) string {
	var v string
	switch k := r.uvarint(c); {
	case k == idEmpty:
		return ""
	case k == idUUID:
		b := r.bytes(colUUID, 16)
		if r.err != nil {
			return ""
		}
		v = formatUUID(b)
	case k == idText:
		v = r.text()
	default:
		if !useDict || k-idRef >= uint64(len(r.dicts[c])) {
			r.err = errCorrupt
			return ""
		}
		return r.dicts[c][k-idRef]
	}
	if useDict {
		r.dicts[c] = append(r.dicts[c], v)
	}
	return v
}

// maxArchivedSegment bounds what decoding an archived object may expand
// to (a segment is cut at 64 MB of records by default).
const maxArchivedSegment = 4 << 30

// DecodeRecords reads an archived segment's object (either format) back
// into its canonical records, byte for byte as they were hashed, and the
// seq of the first (0 for format 1, whose records carry their seq only
// inside).
func DecodeRecords(data []byte) (first int64, records [][]byte, err error) {
	first, err = decodeRecords(context.Background(), data, nil, nil, func(b []byte) error {
		records = append(records, b)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return first, records, nil
}

// decodeRecords is DecodeRecords paced by p (nil: at full speed), handing
// each record to fn in turn instead of keeping them all (fn may keep the
// bytes it is given): what it holds is the decompressed columns, not the
// segment's records. An error fn returns ends the decoding and is
// returned as it is; an object that is not readable is errCorrupt (fn
// may have had the records before the damage).
func decodeRecords(ctx context.Context, data []byte, p *pacer, z *zstdCoders, fn func([]byte) error) (first int64, err error) {
	if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
		return decodeGzipLines(data, fn)
	}
	body, ok := bytes.CutPrefix(data, []byte(archiveMagic2))
	if !ok {
		return 0, errCorrupt
	}
	dec, done, err := z.decoder()
	if err != nil {
		return 0, err
	}
	defer done()
	plain, err := dec.DecodeAll(body, nil)
	if err != nil {
		return 0, errCorrupt
	}
	hdr := bytes.NewReader(plain)
	var head [3 + numCols]uint64
	for i := range head {
		if head[i], err = binary.ReadUvarint(hdr); err != nil {
			return 0, errCorrupt
		}
	}
	if head[0] != codecVersion {
		return 0, fmt.Errorf("archive format %d is unknown", head[0])
	}
	first, n := int64(head[1]), head[2]
	rest := plain[len(plain)-hdr.Len():]
	r := &colReader{}
	for c := range r.cols {
		size := head[3+c]
		if size > uint64(len(rest)) {
			return 0, errCorrupt
		}
		r.cols[c], rest = bytes.NewReader(rest[:size]), rest[size:]
	}
	if len(rest) != 0 || n > uint64(r.cols[colKind].Len()) {
		return 0, errCorrupt
	}
	var t int64
	for i := range n {
		if err := p.step(ctx); err != nil {
			return 0, err
		}
		kind, _ := r.cols[colKind].ReadByte()
		if kind == kindRaw {
			b := r.bytes(colRaw, r.uvarint(colRaw))
			if r.err != nil {
				return 0, r.err
			}
			if err := fn(b); err != nil {
				return 0, err
			}
			continue
		}
		if kind != kindColumns {
			return 0, errCorrupt
		}
		t += r.varint(colTime)
		rec := &novamed.AuditRecord{Seq: first + int64(i), Time: time.UnixMicro(t).UTC(), Format: 2}
		rec.RequestID = r.dict(colRIDPfx)
		rec.RequestID += string(r.bytes(colRIDText, r.uvarint(colRIDLen)))
		rec.ClientRequestID = r.id(colCRID, false)
		if key := strings.Split(r.dict(colKey), "\x00"); len(key) == 5 {
			rec.Actor, rec.KeyID, rec.KeyOwner, rec.KeyPrefix, rec.ClinicID = key[0], key[1], key[2], key[3], key[4]
		} else {
			return 0, errCorrupt
		}
		rec.Action, rec.ResourceType, _ = strings.Cut(r.dict(colAction), "\x00")
		nIDs := r.uvarint(colRIDs)
		if nIDs > uint64(r.cols[colRes].Len()) {
			return 0, errCorrupt
		}
		for range nIDs {
			rec.ResourceIDs = append(rec.ResourceIDs, r.id(colRes, true))
		}
		rec.ClientAddr = r.dict(colAddr)
		rec.UserAgent = r.dict(colUA)
		rec.Status = int(r.uvarint(colStatus))
		rec.LatencyUS = r.varint(colLatency)
		if r.err != nil {
			return 0, r.err
		}
		b, err := audit.Canonical(rec)
		if err != nil {
			return 0, errCorrupt
		}
		if err := fn(b); err != nil {
			return 0, err
		}
	}
	for c := range r.cols {
		if r.cols[c].Len() != 0 {
			return 0, errCorrupt // bytes left over: not what was written
		}
	}
	return first, nil
}

// decodeGzipLines reads archive format 1: gzip of one record a line.
func decodeGzipLines(data []byte, fn func([]byte) error) (int64, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return 0, errCorrupt
	}
	plain, err := io.ReadAll(bufio.NewReader(io.LimitReader(zr, maxArchivedSegment)))
	if err != nil {
		return 0, errCorrupt
	}
	for line := range bytes.SplitSeq(bytes.TrimSuffix(plain, []byte{'\n'}), []byte{'\n'}) {
		if err := fn(line); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// zstdCoders are an Archiver's zstd encoder and decoder, made on first use
// and kept: a new encoder allocated ~40 MB of tables and history, and a
// pass used an encoder and two decoders, so passes every minute beside
// the request path (or every second in bench -archive) were garbage the
// collector took from the requests. A nil *zstdCoders makes new ones for
// each use (EncodeRecords and DecodeRecords).
type zstdCoders struct {
	encMu sync.Mutex // the encoder streams: one user at a time
	enc   *zstd.Encoder
	// decMu is held for reading by each user of dec (DecodeAll may be
	// shared: verify and export may decode beside a pass) and for writing
	// to make or close it, so close waits for the decodes under way.
	decMu sync.RWMutex
	dec   *zstd.Decoder
}

func newEncoder(w io.Writer) (*zstd.Encoder, error) {
	return zstd.NewWriter(w, zstd.WithEncoderLevel(archiveLevel), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(2<<20))
}

func newDecoder() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxArchivedSegment))
}

// encoder returns an encoder writing to w, and what to call when done
// with it (after Close).
func (z *zstdCoders) encoder(w io.Writer) (*zstd.Encoder, func(), error) {
	if z == nil {
		enc, err := newEncoder(w)
		return enc, func() {}, err
	}
	z.encMu.Lock()
	if z.enc == nil {
		enc, err := newEncoder(w)
		if err != nil {
			z.encMu.Unlock()
			return nil, nil, err
		}
		z.enc = enc
	} else {
		z.enc.Reset(w)
	}
	return z.enc, func() {
		z.enc.Reset(io.Discard) // keep no reference to the caller's output
		z.encMu.Unlock()
	}, nil
}

// decoder returns a decoder for DecodeAll, and what to call when done
// with it.
func (z *zstdCoders) decoder() (*zstd.Decoder, func(), error) {
	if z == nil {
		dec, err := newDecoder()
		if err != nil {
			return nil, nil, err
		}
		return dec, dec.Close, nil
	}
	z.decMu.RLock()
	if z.dec != nil {
		return z.dec, z.decMu.RUnlock, nil
	}
	z.decMu.RUnlock()
	z.decMu.Lock()
	if z.dec == nil {
		dec, err := newDecoder()
		if err != nil {
			z.decMu.Unlock()
			return nil, nil, err
		}
		z.dec = dec
	}
	z.decMu.Unlock()
	return z.decoder()
}

// close releases the decoder once the decodes under way are done (the
// encoder holds nothing to release).
func (z *zstdCoders) close() {
	z.decMu.Lock()
	defer z.decMu.Unlock()
	if z.dec != nil {
		z.dec.Close()
		z.dec = nil
	}
}
