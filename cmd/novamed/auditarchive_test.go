package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditSealArchiveVerifyExport: the operator commands on a served
// trail (SQLite: the archive is on by default in DATA_DIR/audit-archive,
// as serve recorded): seal, archive and prune now, then verify and export
// across archive and live; a deleted archived segment is named.
func TestAuditSealArchiveVerifyExport(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	ts, _, total := auditFixture(t)
	var sealed struct {
		Sealed bool `json:"sealed"`
		Seal   struct {
			Segment, FirstSeq, LastSeq int64
		} `json:"seal"`
	}
	if err := ts.cli(&sealed, "audit", "seal"); err != nil || !sealed.Sealed {
		t.Fatalf("audit seal: %v %+v", err, sealed)
	}
	var run struct{ Archived, Pruned int }
	if err := ts.cli(&run, "audit", "archive", "run", "--audit-retain-live", "0s"); err != nil || run.Archived != 1 || run.Pruned != 1 {
		t.Fatalf("audit archive run: %v %+v; want one segment archived and pruned", err, run)
	}
	var ver struct {
		OK       bool  `json:"ok"`
		Checked  int64 `json:"checked"`
		Archived int64 `json:"archived"`
	}
	if err := ts.cli(&ver, "audit", "verify"); err != nil || !ver.OK || ver.Checked < total || ver.Archived < total {
		t.Fatalf("audit verify: %v %+v; want at least %d records, all archived", err, ver, total)
	}
	_, recs := auditExportOf(t, ts)
	if int64(len(recs)) < total || recs[0].Seq != 1 {
		t.Fatalf("audit export after pruning: %d records from %d; want at least %d from 1", len(recs), recs[0].Seq, total)
	}
	var st struct {
		Segments []struct {
			Segment   int64 `json:"segment"`
			InArchive *bool `json:"in_archive"`
		} `json:"segments"`
		Gaps []string `json:"gaps"`
	}
	if err := ts.cli(&st, "audit", "archive", "status"); err != nil || len(st.Segments) != 1 || st.Segments[0].InArchive == nil || !*st.Segments[0].InArchive || len(st.Gaps) != 0 {
		t.Fatalf("audit archive status: %v %+v", err, st)
	}
	if err := os.Remove(filepath.Join(ts.DataDir, "audit-archive", "audit-000000000001.cols.zst")); err != nil {
		t.Fatal(err)
	}
	if err := ts.cli(nil, "audit", "verify"); err == nil || !strings.Contains(err.Error(), "segment 1 missing from the archive") {
		t.Fatalf("audit verify with segment 1 deleted from the archive = %v; want it named", err)
	}
}
