package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"
)

// Arguments of serve in the -archive comparison. With archiving, the
// background pass runs continuously — a pass every second
// (--audit-archive-interval 1s; production's default is a minute), each
// sealing, archiving, reading back and pruning one 1 MB segment (~1,700
// records) at its production pace — so that it works through both
// scenarios' measured windows: the setup and every run before it leave a
// backlog of such segments. Nothing is retained live. Without, the
// archive is off and no pass runs.
var (
	archiveOffArgs = []string{"--audit-archive", "off"}
	archiveOnArgs  = []string{"--audit-segment", "1MB", "--audit-retain-live", "0s", "--audit-archive-interval", "1s"}
)

// archiveCompare runs read-one-patient and create-patient at c=8 on one
// SQLite data folder, in interleaved rounds, with the archive pass off and
// with it running continuously, and prints the p50/p99 of each (medians of
// the rounds) and their ratio, then what the archive holds.
func (b *bench) archiveCompare(bin string, serveArgs, store []string, logFile io.Writer) error {
	var read, create scenario
	for _, sc := range b.scenarios() {
		switch sc.name {
		case "read one patient by id (PHI decrypted)":
			read = sc
		case "create patient (idempotent)":
			create = sc
		}
	}
	const c = 8
	modes := []struct {
		name string
		args []string
	}{{"archive off", archiveOffArgs}, {"archiving", archiveOnArgs}}
	type key struct{ sc, mode string }
	runs := map[key][]result{}
	for round := 1; round <= b.cfg.rounds; round++ {
		for _, m := range modes {
			api, err := startProcess(bin, append(slices.Clone(serveArgs), m.args...), logFile)
			if err != nil {
				return err
			}
			b.api = api
			for _, sc := range []scenario{read, create} {
				before := b.serverLogSize()
				stopProfile := func() {}
				if b.cfg.profileDir != "" && round == 1 {
					stopProfile = b.profile(m.name+" "+sc.name, c)
				}
				r := load(c, b.cfg.duration, sc.op)
				stopProfile()
				during := b.serverLogFrom(before)
				runs[key{sc.name, m.name}] = append(runs[key{sc.name, m.name}], r)
				fmt.Fprintf(os.Stderr, "round %d  %-12s %-40s c=%d %7.0f req/s  p50 %v  p99 %v  errors %d  (during it: %s)\n", round, m.name, sc.name, c,
					r.rps, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.errors, passWork(during))
			}
			api.stop()
		}
	}
	med := func(rs []result, f func(result) time.Duration) time.Duration {
		v := make([]time.Duration, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario (c=8)\tp50 off\tp50 archiving\tp99 off\tp99 archiving\tp99 ratio\terrors\t")
	for _, sc := range []scenario{read, create} {
		off, on := runs[key{sc.name, "archive off"}], runs[key{sc.name, "archiving"}]
		p99off, p99on := med(off, func(r result) time.Duration { return r.p99 }), med(on, func(r result) time.Duration { return r.p99 })
		var errs int64
		for _, r := range append(slices.Clone(off), on...) {
			errs += r.errors
		}
		fmt.Fprintf(tw, "%s\t%v\t%v\t%v\t%v\t%.2f\t%d\t\n", sc.name,
			med(off, func(r result) time.Duration { return r.p50 }).Round(time.Microsecond), med(on, func(r result) time.Duration { return r.p50 }).Round(time.Microsecond),
			p99off.Round(time.Microsecond), p99on.Round(time.Microsecond), float64(p99on)/float64(p99off), errs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	out, err := exec.Command(bin, append([]string{"audit", "archive", "status", "--json"}, store...)...).Output()
	if err != nil {
		return fmt.Errorf("audit archive status: %w", err)
	}
	var st struct {
		Segments []struct {
			FirstSeq     int64      `json:"first_seq"`
			LastSeq      int64      `json:"last_seq"`
			RecordBytes  int64      `json:"record_bytes"`
			ArchiveBytes int64      `json:"archive_bytes"`
			PrunedAt     *time.Time `json:"pruned_at"`
		} `json:"segments"`
		LiveRecords int64 `json:"live_records"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return fmt.Errorf("audit archive status: %w", err)
	}
	var archived, recBytes, arBytes int64
	var segs, pruned int
	for _, s := range st.Segments {
		if s.ArchiveBytes > 0 {
			segs++
			archived += s.LastSeq - s.FirstSeq + 1
			recBytes += s.RecordBytes
			arBytes += s.ArchiveBytes
		}
		if s.PrunedAt != nil {
			pruned++
		}
	}
	if len(st.Segments) == 0 {
		// Not an error: a paced pass may still be sealing its first
		// segment when the runs end; the p99 figures then cover that.
		fmt.Println("note: no background pass finished sealing a segment during the runs (a longer -duration lets one)")
	}
	// What the background passes did, from the server's log (a paced pass
	// may still be at work when its run ends; the next start goes on).
	fmt.Printf("background passes: %s\n", passWork(b.serverLogFrom(0)))
	fmt.Printf("archive: %d segments, %d archived (%d records), %d pruned, %d records live\n", len(st.Segments), segs, archived, pruned, st.LiveRecords)
	if archived > 0 {
		fmt.Printf("%.0f live record bytes and %.0f archive bytes per archived record\n", float64(recBytes)/float64(archived), float64(arBytes)/float64(archived))
	}
	return nil
}

// serverLogSize is how many bytes the servers have logged so far.
func (b *bench) serverLogSize() int64 {
	fi, err := os.Stat(filepath.Join(b.dir, "server.log"))
	if err != nil {
		return 0
	}
	return fi.Size()
}

// serverLogFrom is what the servers have logged from offset on.
func (b *bench) serverLogFrom(offset int64) []byte {
	f, err := os.Open(filepath.Join(b.dir, "server.log"))
	if err != nil {
		return nil
	}
	defer f.Close()
	text, _ := io.ReadAll(io.NewSectionReader(f, offset, 1<<62))
	return text
}

// passWork says what the background passes logged in text.
func passWork(text []byte) string {
	return fmt.Sprintf("%d segments sealed, %d archived, %d pruned",
		bytes.Count(text, []byte(`"msg":"audit segment sealed"`)), bytes.Count(text, []byte(`"msg":"audit segment archived"`)),
		bytes.Count(text, []byte(`"msg":"audit segment pruned from the live database"`)))
}
