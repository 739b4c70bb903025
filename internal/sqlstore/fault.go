package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// Fault is the kind of dependency fault a store error shows: the database
// was unreachable or out of space, as opposed to a bug of ours.
type Fault int

// Fault kinds.
const (
	// NoFault: not an outage (a bug, a constraint, bad data): a 500 if unhandled.
	NoFault Fault = iota
	// Unavailable: the database cannot be reached, refuses connections, is
	// shutting down, or did not answer within its deadline.
	Unavailable
	// Full: the database is out of disk space (or another resource).
	Full
)

// SQLite primary result codes (the low byte of an extended code).
const (
	sqliteBusy     = 5
	sqliteLocked   = 6
	sqliteNoMem    = 7
	sqliteIOErr    = 10
	sqliteFull     = 13
	sqliteCantOpen = 14
	sqliteProtocol = 15
)

// FaultOf classifies err, the error of a store call. It is the one place
// that knows which driver errors are outages: connection refused, reset or
// closed, PostgreSQL's connection (08), shutdown (57P01–57P03),
// resource (53) and timeout (57014 statement_timeout, 55P03 lock_timeout)
// SQLSTATEs, serialisation failures and deadlocks (40001, 40P01), SQLite's
// SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY (after busy_timeout) and
// SQLITE_CANTOPEN, and a store call that outlived its deadline.
func FaultOf(err error) Fault {
	if err == nil {
		return NoFault
	}
	if errors.Is(err, ErrAuditFlushFailing) {
		return Unavailable
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch c := pg.Code; {
		case c == "53100" || c == "53200" || strings.HasPrefix(c, "53"):
			return Full
		case strings.HasPrefix(c, "08"), c == "57P01", c == "57P02", c == "57P03", c == "57014", c == "55P03",
			c == "40001", c == "40P01", c == "25006": // 25006: read-only transaction (a standby after failover)
			return Unavailable
		}
		return NoFault
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff {
		case sqliteFull:
			return Full
		case sqliteIOErr:
			// SQLITE_IOERR_WRITE/FSYNC on a full file system is ENOSPC
			// underneath; SQLite reports IOERR for some writes instead of FULL.
			if errors.Is(err, syscall.ENOSPC) || strings.Contains(strings.ToLower(lite.Error()), "no space") {
				return Full
			}
			return Unavailable
		case sqliteBusy, sqliteLocked, sqliteNoMem, sqliteCantOpen, sqliteProtocol:
			return Unavailable
		}
		return NoFault
	}
	if errors.Is(err, syscall.ENOSPC) {
		return Full
	}
	var connect *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connect), errors.Is(err, context.DeadlineExceeded), errors.Is(err, driver.ErrBadConn),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.As(err, &netErr), pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return Unavailable
	}
	// pgx reports a connection it closed after a failure as "conn closed".
	if strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "conn busy") {
		return Unavailable
	}
	return NoFault
}
