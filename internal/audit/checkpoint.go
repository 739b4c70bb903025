package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

// Checkpoint is a signed statement that the trail's record Seq had the hash
// Head at time At. Kept outside the database (a file, a log store, a
// webhook receiver), it lets verification notice what the chain alone
// cannot: newest records removed together with the head moved back, or a
// trail rewritten from some record on.
type Checkpoint struct {
	Seq   int64     `json:"seq"`
	Head  string    `json:"head"`
	At    time.Time `json:"at"`
	KeyID string    `json:"key_id"`
	Sig   string    `json:"sig"` // base64 Ed25519 signature of signedMessage
}

// CheckpointKeyID names a checkpoint public key: the first 16 hex digits of
// its SHA-256.
func CheckpointKeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// signedMessage is what a checkpoint's signature covers.
func (c *Checkpoint) signedMessage() []byte {
	return []byte("novamed audit checkpoint v1\n" + strconv.FormatInt(c.Seq, 10) + "\n" + c.Head + "\n" +
		c.At.UTC().Format(time.RFC3339Nano) + "\n" + c.KeyID)
}

// SignCheckpoint signs (seq, head) at time at with key.
func SignCheckpoint(key ed25519.PrivateKey, seq int64, head string, at time.Time) Checkpoint {
	c := Checkpoint{Seq: seq, Head: head, At: at.UTC().Truncate(time.Microsecond), KeyID: CheckpointKeyID(key.Public().(ed25519.PublicKey))}
	c.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(key, c.signedMessage()))
	return c
}

// NewCheckpoint signs the store's current chain head.
func NewCheckpoint(ctx context.Context, store novamed.AuditStore, key ed25519.PrivateKey, now time.Time) (Checkpoint, error) {
	seq, head, err := store.AuditHead(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	return SignCheckpoint(key, seq, head, now), nil
}

// Check reports whether c was signed by pub. The key is the verifier's
// own: a key id or key carried in the checkpoint is never trusted.
func (c *Checkpoint) Check(pub ed25519.PublicKey) error {
	if c.KeyID != CheckpointKeyID(pub) {
		return fmt.Errorf("checkpoint of record %d is signed by key %q, not the configured checkpoint key %q", c.Seq, c.KeyID, CheckpointKeyID(pub))
	}
	sig, err := base64.StdEncoding.DecodeString(c.Sig)
	if err != nil || !ed25519.Verify(pub, c.signedMessage(), sig) {
		return fmt.Errorf("checkpoint of record %d has an invalid signature (forged or edited)", c.Seq)
	}
	return nil
}

// ParseCheckpoints reads one checkpoint object, or several one after the
// other (a checkpoints.jsonl file).
func ParseCheckpoints(data []byte) ([]Checkpoint, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var out []Checkpoint
	for {
		var c Checkpoint
		err := dec.Decode(&c)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("checkpoint %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no checkpoint found")
	}
	return out, nil
}

// VerifyCheckpoints is Verify, and then checks the trail against signed
// checkpoints: every checkpoint must be signed by pub, and the trail must
// reach each checkpoint's record and have there the hash it names. A
// trail shorter than a checkpoint (newest records removed and the head
// moved back) or differing from it (rewritten) is a *BrokenError.
// Checkpoints of records pruned from the live trail are left to archive
// verification.
func VerifyCheckpoints(ctx context.Context, store novamed.AuditStore, pub ed25519.PublicKey, cps []Checkpoint) (int64, error) {
	want := map[int64]bool{}
	for i := range cps {
		if err := cps[i].Check(pub); err != nil {
			return 0, err
		}
		want[cps[i].Seq] = true
	}
	var base int64
	found := map[int64]string{0: ""}
	if p, ok := store.(Pruned); ok {
		var err error
		var h string
		if base, h, err = p.AuditBase(ctx); err != nil {
			return 0, err
		}
		found[base] = h
	}
	n, err := verify(ctx, store, func(rec *novamed.AuditRecord) {
		if want[rec.Seq] {
			found[rec.Seq] = rec.Hash
		}
	})
	if err != nil {
		return n, err
	}
	cps = slices.Clone(cps)
	slices.SortFunc(cps, func(a, b Checkpoint) int { return int(min(max(a.Seq-b.Seq, -1), 1)) })
	last := base + n
	for _, c := range cps {
		if c.Seq < base {
			continue // pruned: checked against the archive (auditarchive.Verify)
		}
		at := c.At.UTC().Format(time.RFC3339)
		if c.Seq > last {
			return n, &BrokenError{Seq: last + 1, Reason: fmt.Sprintf("the trail ends at record %d but a checkpoint signed at %s names record %d: newest records were removed", last, at, c.Seq)}
		}
		if found[c.Seq] != c.Head {
			return n, &BrokenError{Seq: c.Seq, Reason: fmt.Sprintf("record %d differs from the checkpoint signed at %s: the trail was rewritten", c.Seq, at)}
		}
	}
	return n, nil
}

// AppendCheckpointFile adds c as one line to the file at path (created
// 0600) and syncs it.
func AppendCheckpointFile(path string, c Checkpoint) (err error) {
	line, err := json.Marshal(c)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit: checkpoint file: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("audit: checkpoint file: %w", cerr)
		}
	}()
	if _, err := f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("audit: checkpoint file: %w", err)
	}
	return f.Sync()
}

// LoadCheckpointKey reads an Ed25519 private key written by
// WriteCheckpointKey: the base64 of its 32-byte seed. Errors never include
// the file's contents.
func LoadCheckpointKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: checkpoint key: %w", err)
	}
	defer clear(data)
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("audit: checkpoint key %s: want the base64 of a %d-byte Ed25519 seed", path, ed25519.SeedSize)
	}
	defer clear(seed)
	return ed25519.NewKeyFromSeed(seed), nil
}

// WriteCheckpointKey creates a new Ed25519 key in a new file at path (mode
// 0600; it fails if the file exists, so a key is never overwritten).
func WriteCheckpointKey(path string) (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: creating checkpoint key: %w", err)
	}
	text := base64.StdEncoding.EncodeToString(key.Seed()) + "\n"
	_, err = f.WriteString(text)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("audit: writing checkpoint key %s: %w", path, err)
	}
	return key, nil
}

// ParseCheckpointPublicKey reads a public key given as base64 of its 32
// bytes (what `novamed audit checkpoint --public-key` prints).
func ParseCheckpointPublicKey(text string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("audit: a checkpoint public key is the base64 of %d bytes", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}
