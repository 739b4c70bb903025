package sqlstore

import (
	"context"
	"database/sql"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// queryPathFiles may call database/sql's statement methods: the query path
// itself, and the group committer's savepoints (fixed text, no
// placeholders).
var queryPathFiles = map[string]bool{"statements.go": true, "groupcommit.go": true}

// driverMethods are the database/sql methods that run or prepare SQL text.
var driverMethods = map[string]bool{
	"Exec": true, "ExecContext": true, "Query": true, "QueryContext": true,
	"QueryRow": true, "QueryRowContext": true, "Prepare": true, "PrepareContext": true,
	"Stmt": true, "StmtContext": true,
}

// TestOneQueryPath fails when package code reaches database/sql's
// Exec/Query/Prepare methods other than through the query path
// (statements.go), where a statement could skip rebinding and work on
// SQLite only. It also fails when the retired spellings come back.
func TestOneQueryPath(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			switch {
			case driverMethods[sel.Sel.Name] && !queryPathFiles[name]:
				t.Errorf("%s: .%s bypasses the query path: run SQL with exec/query/queryRow on s.read, s.write or the transaction (statements.go)",
					fset.Position(sel.Pos()), sel.Sel.Name)
			case sel.Sel.Name == "q" || sel.Sel.Name == "readQuery" || sel.Sel.Name == "readRow" || sel.Sel.Name == "txRow":
				t.Errorf("%s: .%s is retired: the query path rebinds by itself", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
	if checked < 20 {
		t.Fatalf("checked %d files; the test is not looking at the package", checked)
	}
}

// TestOneQueryPathCatchesABypass: the check above reports a direct call.
func TestOneQueryPathCatchesABypass(t *testing.T) {
	src := "package sqlstore\nfunc f(tx *txn) { tx.tx.ExecContext(nil, `UPDATE t SET a = ?`, 1) }\n"
	f, err := parser.ParseFile(token.NewFileSet(), "x.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok && driverMethods[sel.Sel.Name] {
			found = true
		}
		return true
	})
	if !found {
		t.Fatal("a direct ExecContext call was not recognised")
	}
}

func TestPostgresRebind(t *testing.T) {
	for in, want := range map[string]string{
		`SELECT 1`: `SELECT 1`,
		`SELECT a FROM t WHERE b = ? AND c IN (?, ?)`:  `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)`,
		`INSERT INTO t (a, b) VALUES (?, ?)` + "\n--?": "INSERT INTO t (a, b) VALUES ($1, $2)\n--$3",
	} {
		if got := (postgresDialect{}).rebind(in); got != want {
			t.Errorf("rebind(%q) = %q, want %q", in, got, want)
		}
		if got := (sqliteDialect{}).rebind(in); got != in {
			t.Errorf("sqlite rebind(%q) = %q, want it unchanged", in, got)
		}
	}
}

// TestSQLiteIsUnique: uniqueness is recognised by the driver's extended
// result code, for UNIQUE and PRIMARY KEY, and not for other constraints.
// (PostgreSQL's SQLSTATE 23505 is exercised by the conformance suite's
// duplicate cases on PostgreSQL.)
func TestSQLiteIsUnique(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	if _, err := s.write.exec(ctx, `CREATE TABLE uq (id INTEGER PRIMARY KEY, u TEXT UNIQUE, nn TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.write.exec(ctx, `INSERT INTO uq (id, u, nn) VALUES (1, 'a', 'x')`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		query  string
		unique bool
	}{
		{`INSERT INTO uq (id, u, nn) VALUES (2, 'a', 'x')`, true},   // UNIQUE
		{`INSERT INTO uq (id, u, nn) VALUES (1, 'b', 'x')`, true},   // PRIMARY KEY
		{`INSERT INTO uq (id, u, nn) VALUES (3, 'c', NULL)`, false}, // NOT NULL
		{`INSERT INTO nosuchtable VALUES (1)`, false},
	} {
		_, err := s.write.exec(ctx, c.query)
		if err == nil {
			t.Fatalf("%s: no error", c.query)
		}
		if got := s.syntax.isUnique(err); got != c.unique {
			t.Errorf("%s: isUnique(%v) = %v, want %v", c.query, err, got, c.unique)
		}
	}
	if s.syntax.isUnique(sql.ErrNoRows) || (postgresDialect{}).isUnique(sql.ErrNoRows) {
		t.Error("isUnique(sql.ErrNoRows) = true")
	}
}
