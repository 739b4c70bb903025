package main

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/novamed/partner-api/internal/phi"
	"github.com/novamed/partner-api/internal/sqlstore"
)

// createRows is the storage floor under "create patient": the rows a create
// must store in one atomic commit (the patient under its unique identity
// index, the remembered Idempotency-Key answer, the audit record and the
// chain head) in the API's own schema (its migrations), with the sizes the
// API's rows have, written as raw prepared SQL — no validation, encryption,
// hashing, savepoints or middleware — and group-committed as the API
// commits (whatever is waiting shares one transaction; each request is
// answered after its commit), at synchronous=NORMAL like the single-row
// baseline (the API commits at FULL; NORMAL can only make this floor
// faster, so it is a generous one). It shows how much of the create target
// the stored rows alone take.
type createRows struct {
	db      *sql.DB
	jobs    chan chan error
	patient *sql.Stmt
	idem    *sql.Stmt
	audit   *sql.Stmt
	head    *sql.Stmt
	setHead *sql.Stmt
}

// Row sizes measured on the API's database after a create benchmark
// (average column lengths of the newest rows).
var (
	pad79, pad49, pad54 = strings.Repeat("x", 79), strings.Repeat("x", 49), strings.Repeat("x", 54)
	pad321, pad813      = strings.Repeat("x", 321), strings.Repeat("x", 813)
	pad542              = strings.Repeat("x", 542)
)

func openCreateRows(path string) (*createRows, error) {
	key, err := phi.GenerateKey()
	if err != nil {
		return nil, err
	}
	ring, err := phi.NewKeyring(map[uint32][]byte{1: key})
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	s, err := sqlstore.OpenSQLite(ctx, path, sqlstore.Options{Keyring: ring}) // the API's schema
	if err != nil {
		return nil, err
	}
	if err := s.Close(); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"+
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_pragma=temp_store(MEMORY)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`INSERT OR IGNORE INTO clinics (id, name, created_at) VALUES (?, 'Bench', 0)`, clinic); err != nil {
		db.Close()
		return nil, err
	}
	c := &createRows{db: db, jobs: make(chan chan error, 1024)}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&c.patient, `INSERT INTO patients (id, clinic_id, status, identity_index, first_name, last_name, date_of_birth, details, created_at) VALUES (?, ?, 'active', ?, ?, ?, ?, ?, ?)`},
		{&c.idem, `INSERT INTO idempotency_keys (id, owner, key, fingerprint, status, body, created_at) VALUES (?, ?, ?, ?, 200, ?, ?)`},
		{&c.audit, `INSERT INTO audit_log (seq, at, record, prev_hash, hash) VALUES (?, ?, ?, ?, ?)`},
		{&c.head, `SELECT seq, hash FROM audit_head WHERE id = 1`},
		{&c.setHead, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`},
	} {
		if *p.stmt, err = db.Prepare(p.sql); err != nil {
			db.Close()
			return nil, err
		}
	}
	go c.loop()
	return c, nil
}

func (c *createRows) loop() {
	for first := range c.jobs {
		batch := []chan error{first}
	fill:
		for len(batch) < 256 {
			select {
			case j := <-c.jobs:
				batch = append(batch, j)
			default:
				break fill
			}
		}
		err := c.commit(len(batch))
		for _, j := range batch {
			j <- err
		}
	}
}

func randomHex() string {
	var b [32]byte
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rand.Uint64())
	}
	return hex.EncodeToString(b[:])
}

// commit stores n creates' rows in one transaction.
func (c *createRows) commit(n int) error {
	tx, err := c.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit: no-op
	var seq int64
	var hash string
	if err := tx.Stmt(c.head).QueryRow().Scan(&seq, &hash); err != nil {
		return err
	}
	now := time.Now().UnixMicro()
	patient, idem, audit := tx.Stmt(c.patient), tx.Stmt(c.idem), tx.Stmt(c.audit)
	for i := 0; i < n; i++ {
		id := uuid.Must(uuid.NewV7()).String()
		if _, err := patient.Exec(id, clinic, randomHex(), pad79, pad49, pad54, pad321, now); err != nil {
			return err
		}
		if _, err := idem.Exec(randomHex(), clinic, id[:28], randomHex(), pad813, now); err != nil {
			return err
		}
		seq++
		next := randomHex()
		if _, err := audit.Exec(seq, now, pad542, hash, next); err != nil {
			return err
		}
		hash = next
	}
	if _, err := tx.Stmt(c.setHead).Exec(seq, hash); err != nil {
		return err
	}
	return tx.Commit()
}

// handler answers like the raw insert baseline after its create's rows commit.
func (c *createRows) handler(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body) //nolint:errcheck // benchmark
	done := make(chan error, 1)
	c.jobs <- done
	if err := <-done; err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"success":true,"data":{"status":"ok"}}` + "\n")) //nolint:errcheck // benchmark
}
