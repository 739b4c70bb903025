package sqlstore

import (
	"context"

	"github.com/novamed/partner-api/internal/novamed"
)

// CreatePatientOneStatement runs PostgreSQL's one-statement patient create
// alone, for its tests: done=false when it stepped aside, having written
// nothing.
func (s *Store) CreatePatientOneStatement(ctx context.Context, p *novamed.Patient, eff novamed.Effects) (done bool, err error) {
	row, err := s.patientRow(p)
	if err != nil {
		return true, err
	}
	_, done, err = s.createPatientPostgres(ctx, p, eff, row)
	return done, err
}

// IndexVersionSeen is 1 + the blind indexes' key version the one-statement
// create will use, 0 when it will step aside.
func (s *Store) IndexVersionSeen() int64 { return s.indexVersion.Load() }

// ChainPending runs one chaining pass (PostgreSQL).
func (s *Store) ChainPending(ctx context.Context) error { return s.chainPending(ctx) }

// ForgetIndexVersion makes the next patient create take the general path.
func (s *Store) ForgetIndexVersion() { s.indexVersion.Store(0) }
