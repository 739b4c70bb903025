// Package reencrypt runs master-key re-encryption jobs: re-sealing every
// PHI value under a key version every running replica already holds. The
// console and the admin API start and follow jobs through one Service.
package reencrypt

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/novamed"
)

// Store is what a job reads and changes (sqlstore.Store).
type Store interface {
	SealedVersions(ctx context.Context) (map[uint32]int, error)
	RotatePHI(ctx context.Context, batchSize int) (int, error)
	ReindexBlind(ctx context.Context, batchSize int) (int, error)
	ReplicaKeyrings(ctx context.Context, since time.Time) (map[string][]uint32, error)
	CreateReencryption(ctx context.Context, j *novamed.ReencryptionJob, staleBefore time.Time) error
	UpdateReencryption(ctx context.Context, j *novamed.ReencryptionJob) error
	GetReencryption(ctx context.Context, id string) (*novamed.ReencryptionJob, error)
	ListReencryptions(ctx context.Context, limit int) ([]*novamed.ReencryptionJob, error)
}

// Freshness is how recently a replica must have advertised its keyring to
// count as running (replicas advertise every AdvertiseEvery).
const (
	AdvertiseEvery = 30 * time.Second
	Freshness      = 3 * AdvertiseEvery
)

// Service starts and follows re-encryption jobs. Its goroutines end when
// Close is called.
type Service struct {
	Store Store
	// Versions are this replica's keyring versions and the one it seals
	// new values under.
	Versions func() (all []uint32, current uint32)
	// Replica is the name this process advertises its keyring under; its
	// own row is replaced by the live Versions (a reload counts at once).
	Replica string
	Log     *slog.Logger
	Now     func() time.Time
	// Batch is how many rows one transaction re-seals (default 500).
	Batch int

	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) base() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil {
		s.ctx, s.cancel = context.WithCancel(context.Background())
	}
	return s.ctx
}

// Close stops running jobs (they stay "running" until another replica's
// start finds them stale; re-running resumes) and waits for them.
func (s *Service) Close() {
	s.base()
	s.cancel()
	s.wg.Wait()
}

// Status is what the crypto page and GET /api/admin/crypto show.
type Status struct {
	ValuesByVersion map[uint32]int      `json:"values_by_version"`
	Local           []uint32            `json:"local_versions"`
	Current         uint32              `json:"current_version"`
	Replicas        map[string][]uint32 `json:"replicas"`
	// Eligible are the versions every running replica holds.
	Eligible []uint32                   `json:"eligible_versions"`
	Jobs     []*novamed.ReencryptionJob `json:"jobs"`
}

// Status reads the key versions, replicas and recent jobs.
func (s *Service) Status(ctx context.Context) (*Status, error) {
	st := &Status{}
	var err error
	if st.ValuesByVersion, err = s.Store.SealedVersions(ctx); err != nil {
		return nil, err
	}
	st.Local, st.Current = s.Versions()
	if st.Replicas, err = s.Store.ReplicaKeyrings(ctx, s.now().Add(-Freshness)); err != nil {
		return nil, err
	}
	if s.Replica != "" {
		st.Replicas[s.Replica] = st.Local
	}
	for _, v := range st.Local {
		ok := true
		for _, vs := range st.Replicas {
			ok = ok && slices.Contains(vs, v)
		}
		if ok {
			st.Eligible = append(st.Eligible, v)
		}
	}
	if st.Jobs, err = s.Store.ListReencryptions(ctx, 10); err != nil {
		return nil, err
	}
	return st, nil
}

// Start checks toVersion and starts a job re-sealing every PHI value under
// it. The target must be the version this replica seals new values under
// (its newest: re-sealing under an older one would be rotating
// backwards) and be in the keyring of every replica seen within
// Freshness; only one job runs at a time.
func (s *Service) Start(ctx context.Context, toVersion uint32, actor string) (*novamed.ReencryptionJob, error) {
	st, err := s.Status(ctx)
	if err != nil {
		return nil, err
	}
	if toVersion == 0 {
		return nil, novamed.Errorf(novamed.CodeInvalid, "to_version is required: the master key version to re-seal under (v%d on this server).", st.Current)
	}
	if !slices.Contains(st.Local, toVersion) {
		return nil, novamed.Errorf(novamed.CodeInvalid, "Master key version v%d is not in this server's keyring (it holds %s). Add it to the key file of every replica first.", toVersion, list(st.Local))
	}
	var missing []string
	for name, vs := range st.Replicas {
		if !slices.Contains(vs, toVersion) {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		return nil, novamed.Errorf(novamed.CodeInvalid, "Master key version v%d is not yet in the keyring of every running replica (missing on %s); wait until each has reloaded its key file.", toVersion, strings.Join(missing, ", "))
	}
	if toVersion != st.Current {
		return nil, novamed.Errorf(novamed.CodeInvalid, "v%d is not the newest master key version (v%d): re-sealing under an older version would rotate backwards.", toVersion, st.Current)
	}
	now := s.now().UTC()
	j := &novamed.ReencryptionJob{ID: uuid.NewString(), ToVersion: toVersion, State: novamed.ReencryptRunning, Remaining: remaining(st.ValuesByVersion, toVersion),
		StartedBy: actor, CreatedAt: now, UpdatedAt: now}
	if err := s.Store.CreateReencryption(ctx, j, now.Add(-Freshness)); err != nil {
		return nil, err
	}
	base := s.base()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.run(base, *j)
	}()
	return j, nil
}

// Job returns a job with a fresh count of the values still to re-seal.
func (s *Service) Job(ctx context.Context, id string) (*novamed.ReencryptionJob, error) {
	j, err := s.Store.GetReencryption(ctx, id)
	if err != nil {
		return nil, err
	}
	if j.State == novamed.ReencryptRunning {
		if v, err := s.Store.SealedVersions(ctx); err == nil {
			j.Remaining = remaining(v, j.ToVersion)
		}
	}
	return j, nil
}

// run re-seals in passes until one finds nothing left, then re-keys the
// blind indexes, saving progress after every pass.
func (s *Service) run(ctx context.Context, j novamed.ReencryptionJob) {
	batch := s.Batch
	if batch <= 0 {
		batch = 500
	}
	save := func() {
		j.UpdatedAt = s.now().UTC()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := s.Store.UpdateReencryption(sctx, &j); err != nil && s.Log != nil {
			s.Log.Error("saving re-encryption progress failed", "job", j.ID, "err", err)
		}
	}
	fail := func(err error) {
		j.State, j.Error = novamed.ReencryptFailed, "stopped after "+fmt.Sprint(j.Changed)+" rows; start it again to resume"
		if s.Log != nil {
			s.Log.Error("re-encryption failed", "job", j.ID, "err", err)
		}
		t := s.now().UTC()
		j.FinishedAt = &t
		save()
	}
	for {
		n, err := s.Store.RotatePHI(ctx, batch)
		j.Changed += int64(n)
		if err != nil {
			fail(err)
			return
		}
		v, err := s.Store.SealedVersions(ctx)
		if err != nil {
			fail(err)
			return
		}
		j.Remaining = remaining(v, j.ToVersion)
		save()
		if n == 0 || j.Remaining == 0 {
			break
		}
	}
	if _, err := s.Store.ReindexBlind(ctx, batch); err != nil {
		fail(err)
		return
	}
	j.State = novamed.ReencryptSucceeded
	if j.Remaining > 0 {
		// Values a replica wrote under an older version meanwhile: a
		// second run picks them up.
		j.Error = fmt.Sprintf("%d values written meanwhile under an older version remain; start again to re-seal them", j.Remaining)
	}
	t := s.now().UTC()
	j.FinishedAt = &t
	save()
	if s.Log != nil {
		s.Log.Info("re-encryption finished", "job", j.ID, "to_version", j.ToVersion, "changed", j.Changed)
	}
}

func remaining(byVersion map[uint32]int, to uint32) int64 {
	var n int64
	for v, c := range byVersion {
		if v != to {
			n += int64(c)
		}
	}
	return n
}

func list(vs []uint32) string {
	s := slices.Sorted(slices.Values(vs))
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = fmt.Sprintf("v%d", v)
	}
	return strings.Join(parts, ", ")
}
