package main

import (
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"
)

// durableLog is the least a server can do to keep issue 3's promise that an
// audit record is not lost on a crash after its response was sent: append
// the record to a file and fsync before answering, with concurrent requests
// sharing each fsync (group commit: while one fsync runs, the next batch
// gathers). No hashing, no database, no authentication; it is the floor
// under the API's authenticated read, shown beside the bare handler.
type durableLog struct {
	mu       sync.Mutex
	cond     *sync.Cond
	f        *os.File
	buf      []byte // appended, not yet written
	appended uint64 // records appended so far
	durable  uint64 // records written and fsynced
	syncing  bool
	err      error
}

func openDurableLog(path string) (*durableLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	l := &durableLog{f: f}
	l.cond = sync.NewCond(&l.mu)
	return l, nil
}

// append adds rec and returns once it is on disk. Whoever finds no fsync
// running writes and fsyncs everything appended so far; the others wait.
func (l *durableLog) append(rec []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, rec...)
	l.appended++
	mine := l.appended
	for l.durable < mine && l.err == nil {
		if l.syncing {
			l.cond.Wait()
			continue
		}
		l.syncing = true
		b, upto := l.buf, l.appended
		l.buf = nil
		l.mu.Unlock()
		_, err := l.f.Write(b)
		if err == nil {
			err = l.f.Sync()
		}
		l.mu.Lock()
		l.syncing, l.durable, l.err = false, upto, err
		l.cond.Broadcast()
	}
	return l.err
}

// incrementalLog is the floor under a read in the incremental audit
// durability mode (the default): the record is written to the OS (one
// write system call) before the answer, and fsynced by a background loop
// every 25 ms, half the API's default flush window. No hashing, no
// database, no authentication.
type incrementalLog struct {
	mu sync.Mutex
	f  *os.File
}

func openIncrementalLog(path string) (*incrementalLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	l := &incrementalLog{f: f}
	go func() {
		for range time.Tick(25 * time.Millisecond) {
			l.f.Sync() //nolint:errcheck // a floor, not a store
		}
	}()
	return l, nil
}

func (l *incrementalLog) append(rec []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.f.Write(rec)
	return err
}

// auditSized is one audit-sized record, what the API records for a read.
func auditSized(r *http.Request) []byte {
	return fmt.Appendf(nil, `{"time":%q,"request_id":"req_0123456789abcdef01234567","key_id":"key_0123456789abcdef",`+
		`"clinic_id":"550e8400-e29b-41d4-a716-446655440000","action":"GET /api/external/carriers","status":200,`+
		`"client_ip":"127.0.0.1","user_agent":%q,"prev_hash":"%064d"}`+"\n",
		time.Now().UTC().Format(time.RFC3339Nano), r.UserAgent(), 0)
}

// loggedHandler answers like the bare handler after appending one
// audit-sized record to l.
func loggedHandler(l interface{ append([]byte) error }) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := l.append(auditSized(r)); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"success":true,"data":{"status":"ok"}}` + "\n")) //nolint:errcheck // benchmark
	}
}
