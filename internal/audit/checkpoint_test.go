package audit_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/audit"
)

// TestVerifyCheckpoints: a trail rewritten from some record on, or cut
// short, is told apart from the trail a signed checkpoint saw; the
// checkpoint's own key claims count for nothing.
func TestVerifyCheckpoints(t *testing.T) {
	ctx := context.Background()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	trail := openTrail(t, 5)
	cp, err := audit.NewCheckpoint(ctx, trail, key, time.Now())
	if err != nil || cp.Seq != 5 {
		t.Fatalf("NewCheckpoint = %+v, %v", cp, err)
	}
	if n, err := audit.VerifyCheckpoints(ctx, trail, pub, []audit.Checkpoint{cp}); err != nil || n != 5 {
		t.Fatalf("VerifyCheckpoints of the signed trail = %d, %v", n, err)
	}
	var broken *audit.BrokenError
	rewritten := openTrail(t, 6) // another valid chain, as one rebuilt by someone holding the database
	if _, err := audit.VerifyCheckpoints(ctx, rewritten, pub, []audit.Checkpoint{cp}); !errors.As(err, &broken) || !strings.Contains(err.Error(), "rewritten") {
		t.Errorf("VerifyCheckpoints of a rewritten trail = %v; want a BrokenError saying rewritten", err)
	}
	short := openTrail(t, 3)
	if _, err := audit.VerifyCheckpoints(ctx, short, pub, []audit.Checkpoint{cp}); !errors.As(err, &broken) || broken.Seq != 4 {
		t.Errorf("VerifyCheckpoints of a shorter trail = %v; want a BrokenError at 4", err)
	}
	otherPub, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	foreign := audit.SignCheckpoint(otherKey, cp.Seq, cp.Head, cp.At)
	foreign.KeyID = cp.KeyID // claiming the right key changes nothing
	if _, err := audit.VerifyCheckpoints(ctx, trail, pub, []audit.Checkpoint{foreign}); err == nil {
		t.Errorf("a checkpoint signed by another key was accepted")
	}
	if err := foreign.Check(otherPub); err == nil {
		t.Errorf("a checkpoint whose key id was edited still verifies")
	}

	// One object (even indented) or JSON lines.
	one, _ := json.MarshalIndent(cp, "", "  ")
	line, _ := json.Marshal(cp)
	for name, data := range map[string][]byte{"object": one, "lines": append(append(line, '\n'), append(line, '\n')...)} {
		cps, err := audit.ParseCheckpoints(data)
		if err != nil || len(cps) == 0 || cps[0] != cp {
			t.Errorf("ParseCheckpoints(%s) = %+v, %v", name, cps, err)
		}
	}
	if _, err := audit.ParseCheckpoints([]byte(`{"seq":1,"unknown":2}`)); err == nil {
		t.Errorf("ParseCheckpoints accepted an unknown field")
	}
}
