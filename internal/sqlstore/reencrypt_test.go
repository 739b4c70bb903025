package sqlstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// TestReencryptionJobsAndReplicaKeyrings: one running job at a time (a
// second is INVALID_TRANSITION and stores nothing) unless the running one
// went stale, which is then marked failed; progress saves; replicas'
// advertised keyrings are read back within the freshness window only.
func TestReencryptionJobsAndReplicaKeyrings(t *testing.T) {
	bothStores(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
		job := func(at time.Time) *novamed.ReencryptionJob {
			return &novamed.ReencryptionJob{ID: uuid.NewString(), ToVersion: 1, State: novamed.ReencryptRunning, StartedBy: "operator:a", CreatedAt: at, UpdatedAt: at}
		}
		first := job(t0)
		if err := s.CreateReencryption(ctx, first, t0.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		second := job(t0.Add(time.Second))
		var de *novamed.Error
		if err := s.CreateReencryption(ctx, second, t0.Add(-time.Minute)); !errors.As(err, &de) || de.Code != novamed.CodeInvalidTransition {
			t.Fatalf("a second job while one runs: %v", err)
		}
		if _, err := s.GetReencryption(ctx, second.ID); !errors.As(err, &de) || de.Code != novamed.CodeNotFound {
			t.Fatalf("the refused job was stored: %v", err)
		}
		first.Changed, first.Remaining, first.UpdatedAt = 7, 3, t0.Add(time.Minute)
		if err := s.UpdateReencryption(ctx, first); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetReencryption(ctx, first.ID)
		if err != nil || got.Changed != 7 || got.Remaining != 3 || !got.UpdatedAt.Equal(first.UpdatedAt) || got.FinishedAt != nil {
			t.Fatalf("progress: %+v %v", got, err)
		}
		// The first stops reporting: a later start marks it failed.
		third := job(t0.Add(10 * time.Minute))
		if err := s.CreateReencryption(ctx, third, t0.Add(8*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetReencryption(ctx, first.ID); got.State != novamed.ReencryptFailed || got.FinishedAt == nil {
			t.Fatalf("the stale job: %+v", got)
		}
		list, err := s.ListReencryptions(ctx, 10)
		if err != nil || len(list) != 2 || list[0].ID != third.ID {
			t.Fatalf("list, newest first: %v %+v", err, list)
		}
		if err := s.AdvertiseKeyring(ctx, "old", t0); err != nil {
			t.Fatal(err)
		}
		if err := s.AdvertiseKeyring(ctx, "new", t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		rings, err := s.ReplicaKeyrings(ctx, t0.Add(30*time.Second))
		if err != nil || len(rings) != 1 || len(rings["new"]) != 1 || rings["new"][0] != 1 {
			t.Fatalf("fresh replicas: %v %v", rings, err)
		}
	})
}
