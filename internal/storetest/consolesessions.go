package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

func testConsoleSessions(t *testing.T, newStore func(t *testing.T) novamed.Store) {
	ctx := context.Background()
	s, ok := newStore(t).(novamed.ConsoleSessionStore)
	if !ok {
		t.Fatal("the store does not keep console sessions (novamed.ConsoleSessionStore)")
	}
	hash := func(tok string) []byte { h := sha256.Sum256([]byte(tok)); return h[:] }
	mk := func(tok, op string, created time.Time) *novamed.ConsoleSession {
		return &novamed.ConsoleSession{TokenHash: hash(tok), OperatorID: op, CreatedAt: created, LastSeenAt: created, ReauthAt: created,
			ClientAddr: "127.0.0.1", UserAgent: "test"}
	}
	a1, a2, b1 := mk("a1", "op-a", base), mk("a2", "op-a", at(time.Minute)), mk("b1", "op-b", at(2*time.Minute))
	for _, cs := range []*novamed.ConsoleSession{a1, a2, b1} {
		must(t, "CreateConsoleSession", s.CreateConsoleSession(ctx, cs))
	}
	got, err := s.ConsoleSession(ctx, hash("a1"))
	must(t, "ConsoleSession", err)
	if got.OperatorID != "op-a" || !got.CreatedAt.Equal(norm(base)) || !got.LastSeenAt.Equal(norm(base)) || got.ClientAddr != "127.0.0.1" {
		t.Errorf("ConsoleSession = %+v, want op-a created %v", got, norm(base))
	}
	if _, err := s.ConsoleSession(ctx, hash("nope")); !errors.Is(err, novamed.ErrNoConsoleSession) {
		t.Errorf("unknown session: err = %v, want ErrNoConsoleSession", err)
	}

	// Activity moves last_seen_at; a re-authentication moves reauth_at too.
	must(t, "TouchConsoleSession", s.TouchConsoleSession(ctx, hash("a1"), at(5*time.Minute), false))
	got, _ = s.ConsoleSession(ctx, hash("a1"))
	if !got.LastSeenAt.Equal(norm(at(5*time.Minute))) || !got.ReauthAt.Equal(norm(base)) {
		t.Errorf("after touch: last seen %v reauth %v", got.LastSeenAt, got.ReauthAt)
	}
	must(t, "TouchConsoleSession reauth", s.TouchConsoleSession(ctx, hash("a1"), at(6*time.Minute), true))
	got, _ = s.ConsoleSession(ctx, hash("a1"))
	if !got.ReauthAt.Equal(norm(at(6 * time.Minute))) {
		t.Errorf("after reauth: reauth %v", got.ReauthAt)
	}
	if err := s.TouchConsoleSession(ctx, hash("nope"), base, false); !errors.Is(err, novamed.ErrNoConsoleSession) {
		t.Errorf("touch unknown: err = %v", err)
	}

	// Log out everywhere: one statement ends both of op-a's sessions only.
	n, err := s.DeleteOperatorConsoleSessions(ctx, "op-a")
	must(t, "DeleteOperatorConsoleSessions", err)
	if n != 2 {
		t.Errorf("DeleteOperatorConsoleSessions = %d, want 2", n)
	}
	for _, tok := range []string{"a1", "a2"} {
		if _, err := s.ConsoleSession(ctx, hash(tok)); !errors.Is(err, novamed.ErrNoConsoleSession) {
			t.Errorf("%s after logout everywhere: err = %v", tok, err)
		}
	}
	if _, err := s.ConsoleSession(ctx, hash("b1")); err != nil {
		t.Errorf("op-b's session ended with op-a's: %v", err)
	}

	// Logout, and the purge of expired sessions.
	must(t, "DeleteConsoleSession", s.DeleteConsoleSession(ctx, hash("b1")))
	must(t, "DeleteConsoleSession twice", s.DeleteConsoleSession(ctx, hash("b1")))
	must(t, "CreateConsoleSession", s.CreateConsoleSession(ctx, mk("old", "op-c", base)))
	must(t, "CreateConsoleSession", s.CreateConsoleSession(ctx, mk("new", "op-c", at(time.Hour))))
	n, err = s.PurgeConsoleSessions(ctx, at(30*time.Minute), at(-time.Hour))
	must(t, "PurgeConsoleSessions", err)
	if n != 1 {
		t.Errorf("PurgeConsoleSessions = %d, want 1", n)
	}
	if _, err := s.ConsoleSession(ctx, hash("new")); err != nil {
		t.Errorf("the fresh session was purged: %v", err)
	}
}
