package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/novamed/partner-api/internal/novamed"
)

// createPatientPostgres is CreatePatient on PostgreSQL as one statement,
// committed on its own: the Idempotency-Key's answer, the patient and the
// audit batch are data-modifying WITH clauses of one INSERT, gated on the
// blind indexes' key version this store last saw (and on the practitioner
// belonging to the clinic). One round trip instead of seven (BEGIN, the
// answer, the index version, the patient, the audit batch, COMMIT): the
// transaction's statements waiting on the network were most of a
// PostgreSQL create's time (docs/performance.md, seventh round).
//
// patientArgs is patientRow's; it fills the identity index under the
// version it uses.
//
// It reports done=false, having written nothing, when the general path must
// run instead: the version is not known yet, a re-index is running or has
// moved it, or the keyring lacks it. Otherwise err is what CreatePatient
// returns (identity is the stored blind index, for withExistingID).
func (s *Store) createPatientPostgres(ctx context.Context, p *novamed.Patient, eff novamed.Effects, patientArgs []any) (identity string, done bool, err error) {
	v := s.indexVersion.Load() - 1
	if v < 0 {
		return "", false, nil
	}
	ring := s.keys.Load()
	if !ring.HasVersion(uint32(v)) {
		return "", false, nil
	}
	identity, err = ring.BlindIndexWith(uint32(v), "patient-identity", identityIndexValue(p.FirstName, p.LastName, p.DateOfBirth))
	if err != nil {
		return "", true, fmt.Errorf("sqlstore: blind index: %w", err)
	}
	patientArgs[patientIdentityArg] = identity
	var variant int
	args := make([]any, 0, 24)
	args = append(args, v)
	if p.PractitionerID != "" {
		variant |= pgCreateWithPractitioner
		args = append(args, p.PractitionerID, p.ClinicID)
	}
	if eff.Idempotency != nil {
		variant |= pgCreateWithIdempotency
		ik, err := s.idempotencyArgs(eff.Idempotency)
		if err != nil {
			return "", true, err
		}
		args = append(args, ik...)
	}
	args = append(args, patientArgs...)
	if eff.Audit != nil {
		variant |= pgCreateWithAudit
		batch, err := pendingBatch([]*novamed.AuditRecord{eff.Audit})
		if err != nil {
			return "", true, err
		}
		args = append(args, batch)
	}
	start := time.Now()
	var versionOK, practitionerOK int
	err = s.write.queryRow(ctx, createPatientPostgresSQL[variant], args...).Scan(&versionOK, &practitionerOK)
	if err != nil {
		var pg *pgconn.PgError
		if errors.As(err, &pg) && pg.Code == "23505" {
			switch pg.TableName {
			case "idempotency_keys":
				return identity, true, novamed.ErrIdempotencyConflict
			case "patients":
				return identity, true, &novamed.DuplicateError{What: "patient identity"}
			}
		}
		return identity, true, fmt.Errorf("sqlstore: insert patient: %w", err)
	}
	if versionOK == 0 {
		// The version moved (a re-index began or ended): nothing was
		// written; the general path reads it again.
		s.indexVersion.Store(0)
		return "", false, nil
	}
	if practitionerOK == 0 {
		return identity, true, errNotClinicPractitioner()
	}
	if eff.Audit != nil {
		s.chainer.nudge()
	}
	if s.onCommit != nil {
		s.onCommit(1, time.Since(start))
	}
	return identity, true, nil
}

// noteIndexVersions records the blind indexes' key versions read inside a
// write transaction, for createPatientPostgres.
func (s *Store) noteIndexVersions(version, target int64) {
	if version == target && version >= 0 {
		s.indexVersion.Store(version + 1)
	} else {
		s.indexVersion.Store(0)
	}
}

// The variants of createPatientPostgresSQL.
const (
	pgCreateWithPractitioner = 1 << iota
	pgCreateWithIdempotency
	pgCreateWithAudit
)

// createPatientPostgresSQL holds the statement of createPatientPostgres for
// each combination of the pgCreate… bits. Its placeholders, in order: the
// index version; the practitioner and clinic ids; insertIdempotencySQL's
// values; insertPatientSQL's; the audit batch. It returns whether the
// version matched and whether the practitioner check passed; when either
// did not, no clause inserted anything.
var createPatientPostgresSQL = func() (v [8]string) {
	for i := range v {
		v[i] = buildCreatePatientPostgres(i&pgCreateWithPractitioner != 0, i&pgCreateWithIdempotency != 0, i&pgCreateWithAudit != 0)
	}
	return v
}()

func buildCreatePatientPostgres(practitioner, idempotency, audit bool) string {
	var b strings.Builder
	b.WriteString(`WITH st AS (SELECT 1 FROM blind_index_state WHERE id = 1 AND version = CAST(? AS BIGINT) AND target = version)`)
	// Each insert reads the row the one before returned, so they run in
	// the general path's order: a used Idempotency-Key is refused before
	// a duplicate patient is.
	from := ` FROM st`
	if practitioner {
		b.WriteString(`, pr AS (SELECT 1 FROM practitioners WHERE id = CAST(? AS TEXT) AND clinic_id = CAST(? AS TEXT))`)
		from += ` WHERE EXISTS (SELECT 1 FROM pr)`
	}
	if idempotency {
		b.WriteString(`, ik AS (INSERT INTO idempotency_keys (id, owner, key, fingerprint, status, body, created_at, clinic_id, resource_ids) SELECT ` +
			`CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS INTEGER), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT)` + from + ` RETURNING 1)`)
		from = ` FROM ik`
	}
	b.WriteString(`, pt AS (INSERT INTO patients (id, clinic_id, practitioner_id, status, identity_index, first_name, last_name, date_of_birth, details, created_at) SELECT ` +
		`CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT)` + from + ` RETURNING 1)`)
	if audit {
		b.WriteString(`, au AS (INSERT INTO audit_pending (records) SELECT CAST(? AS TEXT) FROM pt)`)
	}
	b.WriteString(` SELECT (SELECT COUNT(*) FROM st)`)
	if practitioner {
		b.WriteString(`, (SELECT COUNT(*) FROM pr)`)
	} else {
		b.WriteString(`, 1`)
	}
	return b.String()
}
