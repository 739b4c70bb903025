package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"

	"github.com/novamed/partner-api/internal/novamed"
)

// VerifyReport checks the live trail (Verify, or VerifyCheckpoints when
// cps are given, against pub) and returns the facts `novamed audit
// verify --json` prints and POST /api/admin/audit/verify answers:
// {"ok": true, "checked", "checkpoints"} for an intact trail, {"ok":
// false, "checked", "first_bad_seq", "reason"} with the *BrokenError for a
// broken one. Any other error returns a nil report.
func VerifyReport(ctx context.Context, store novamed.AuditStore, pub ed25519.PublicKey, cps []Checkpoint) (map[string]any, error) {
	var n int64
	var err error
	if cps != nil {
		n, err = VerifyCheckpoints(ctx, store, pub, cps)
	} else {
		n, err = Verify(ctx, store)
	}
	var broken *BrokenError
	if errors.As(err, &broken) {
		return map[string]any{"ok": false, "checked": n, "first_bad_seq": broken.Seq, "reason": broken.Reason}, err
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"ok": true, "checked": n, "checkpoints": len(cps)}, nil
}

// PublicKeyReport is the checkpoint key's public half as `novamed audit
// checkpoint --public-key` prints it and GET
// /api/admin/audit/checkpoint-key answers.
func PublicKeyReport(pub ed25519.PublicKey) map[string]string {
	return map[string]string{"key_id": CheckpointKeyID(pub), "public_key": base64.StdEncoding.EncodeToString(pub)}
}
