// Command bench measures the NovaMed Partner API against baselines in the
// same run on the same machine: a bare net/http JSON handler (for reads) and
// raw single-row SQLite insert transactions (for writes). It builds and
// starts both servers as separate processes, drives each scenario in turn
// (interleaved rounds, closed-loop workers on loopback), and prints req/s
// medians, p50/p99 latency, errors, server RSS and the ratio to the baseline.
// Two reference rows are floors: the bare handler plus one durable,
// group-committed record per request (what issue 3's audit promise costs
// any server), and a create's rows written as raw group-committed SQL (what
// the rows issues 3 and 4 require cost any server); the read and the create
// are also shown as a fraction of their floor.
//
//	go run ./bench -duration 15s           the full run (see docs/performance.md)
//	go run ./bench -smoke                  a few seconds: checks it works, asserts no speed
//	go run ./bench -soak 10m               mixed traffic from many keys; RSS over time
//	go run ./bench -archive -duration 10s  read/create p99 with the audit archive pass off vs running
package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	_ "modernc.org/sqlite"
)

const clinic = "550e8400-e29b-41d4-a716-446655440000"

func main() {
	if len(os.Args) == 4 && os.Args[1] == "-serve-baseline" {
		serveBaseline(os.Args[2], os.Args[3])
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// serveBaseline serves the baselines: "/" is the bare handler every read is
// compared with; "POST /insert" runs one raw single-row SQLite insert
// transaction (WAL, synchronous=NORMAL, one writer connection) per request,
// the write baseline: the same HTTP in front of it as the API has, none of
// the validation, encryption, audit or idempotency.
func serveBaseline(addr, dbPath string) {
	db, err := openRawSQLite(dbPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	journal, err := openDurableLog(dbPath + ".journal")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	incr, err := openIncrementalLog(dbPath + ".incremental")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rows, err := openCreateRows(dbPath + ".create-rows.db")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var n atomic.Int64
	http.HandleFunc("GET /durable", loggedHandler(journal))
	http.HandleFunc("GET /incremental", loggedHandler(incr))
	http.HandleFunc("POST /create-rows", rows.handler)
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"success":true,"data":{"status":"ok"}}` + "\n")) //nolint:errcheck // benchmark
	})
	http.HandleFunc("POST /insert", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) //nolint:errcheck // benchmark
		if err := rawInsert(db, n.Add(1)); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"success":true,"data":{"status":"ok"}}` + "\n")) //nolint:errcheck // benchmark
	})
	fmt.Println("listening on http://" + addr)
	if err := http.ListenAndServe(addr, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

type config struct {
	duration    time.Duration
	rounds      int
	concurrency []int
	smoke       bool
	only        []string
	// profileDir, when set, receives a CPU profile of the API server for
	// each of its scenarios (first round), taken through --metrics-addr.
	profileDir string
	metricsURL string
}

func run() error {
	var cfg config
	conc := flag.String("concurrency", "8,64", "comma-separated worker counts")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "time per scenario per round")
	flag.IntVar(&cfg.rounds, "rounds", 3, "interleaved rounds (the table shows medians)")
	flag.BoolVar(&cfg.smoke, "smoke", false, "a short run that checks everything works")
	only := flag.String("only", "", "comma-separated substrings: run only the scenarios whose names contain one (baselines always run)")
	soakFor := flag.Duration("soak", 0, "instead of the comparison, soak one server with mixed traffic for this long")
	soakKeys := flag.Int("soak-keys", 20, "keys in the soak")
	soakLimit := flag.Int("soak-limit", 3000, "per-key requests per minute in the soak (429s beyond are intended)")
	soakWorkers := flag.Int("soak-workers", 32, "concurrent clients in the soak")
	scale := flag.Int("scale", 0, "first seed this many patients (each with an order, and an audit trail of matching size) through the store, then run the scenarios (SQLite; by hand, never in CI)")
	flag.StringVar(&cfg.profileDir, "profile", "", "write a CPU profile of the API server per scenario (first round) into this folder")
	archiveCmp := flag.Bool("archive", false, "instead of the comparison, run read-one-patient and create-patient at c=8 with the audit archive pass off and running continuously (SQLite)")
	pgAdmin := flag.String("postgres", "", "run the API on a fresh PostgreSQL database created through this admin URL\n"+
		"(e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) instead of SQLite; dropped at the end")
	flag.Parse()
	for _, c := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			return fmt.Errorf("bad -concurrency %q", *conc)
		}
		cfg.concurrency = append(cfg.concurrency, n)
	}
	if *only != "" {
		cfg.only = strings.Split(*only, ",")
	}
	if cfg.smoke {
		cfg.duration, cfg.rounds, cfg.concurrency = 500*time.Millisecond, 1, []int{4}
	}
	dir, err := os.MkdirTemp("", "novamed-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	bin := filepath.Join(dir, "novamed")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/novamed").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	base, err := startProcess(self, []string{"-serve-baseline", freeAddr(), filepath.Join(dir, "baseline.db")}, nil)
	if err != nil {
		return err
	}
	defer base.stop()
	dataDir := filepath.Join(dir, "data")
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	// Every novamed command gets the same store: the data folder (SQLite,
	// and the development master key) and, with -postgres, the database.
	store := []string{"--data-dir", dataDir}
	if *pgAdmin != "" {
		url, drop, err := freshPostgres(*pgAdmin)
		if err != nil {
			return err
		}
		defer drop()
		store = append(store, "--db", url)
	}
	serveArgs := append([]string{"serve", "--addr", freeAddr(), "--sandbox", "off"}, store...)
	if cfg.profileDir != "" {
		if err := os.MkdirAll(cfg.profileDir, 0o755); err != nil {
			return err
		}
		addr := freeAddr()
		cfg.metricsURL = "http://" + addr
		serveArgs = append(serveArgs, "--metrics-addr", addr)
	}
	api, err := startProcess(bin, serveArgs, logFile)
	if err != nil {
		return err
	}
	defer func() { api.stop() }()
	key, err := setUp(bin, store)
	if err != nil {
		return err
	}

	if *soakFor > 0 {
		return soak(bin, store, api, *soakKeys, *soakLimit, *soakWorkers, *soakFor)
	}
	b := &bench{cfg: cfg, key: key, api: api, base: base, dir: dir}
	if err := b.prepare(); err != nil {
		return err
	}
	api.stop()
	if *archiveCmp {
		if *pgAdmin != "" {
			return errors.New("-archive runs on SQLite")
		}
		return b.archiveCompare(bin, serveArgs, store, logFile)
	}
	if *scale > 0 {
		if *pgAdmin != "" {
			return errors.New("-scale seeds SQLite only")
		}
		if err := b.seedScale(dataDir, *scale); err != nil {
			return err
		}
		verify, err := timeCommand(bin, append([]string{"audit", "verify"}, store...)...)
		if err != nil {
			return err
		}
		fi, _ := os.Stat(filepath.Join(dataDir, "novamed.db"))
		fmt.Printf("scale %d: audit verify of the trail took %v; database %d MB\n", *scale, verify.Round(time.Millisecond), fi.Size()>>20)
	}
	// Start-up to ready on an existing database.
	t0 := time.Now()
	if api, err = startProcess(bin, serveArgs, logFile); err != nil {
		return err
	}
	startup := time.Since(t0)
	b.api = api
	return b.runAll(startup)
}

// process is a server under test.
type process struct {
	cmd *exec.Cmd
	url string
	out *bytes.Buffer
}

var listening = regexp.MustCompile(`listening on (http://[0-9.:]+)`)

func startProcess(bin string, args []string, stderr io.Writer) (*process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "NOVAMED_MASTER_KEY=")
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, out: &bytes.Buffer{}}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		p.out.WriteString(sc.Text() + "\n")
		if m := listening.FindStringSubmatch(sc.Text()); m != nil {
			p.url = m[1]
			break
		}
	}
	if p.url == "" {
		cmd.Process.Kill() //nolint:errcheck // failing anyway
		return nil, fmt.Errorf("%s did not start: %s", bin, p.out)
	}
	go io.Copy(io.Discard, stdout) //nolint:errcheck // drain
	for i := 0; i < 300; i++ {
		if resp, err := http.Get(p.url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p, nil
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	cmd.Process.Kill() //nolint:errcheck // never became ready
	return nil, fmt.Errorf("%s never answered /healthz", bin)
}

func (p *process) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(os.Interrupt) //nolint:errcheck // it may be gone
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }() //nolint:errcheck // stopping
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill() //nolint:errcheck // stuck
	}
}

// cpu is the CPU time (user and system) the process has used so far, from
// /proc/<pid>/stat (clock ticks of 10 ms): CPU per request, unlike req/s,
// does not depend on how much of the machine other work takes.
func (p *process) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) in parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// rssMB reads a process's resident set size.
func (p *process) rssMB() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// setUp issues a key without a practical rate limit.
func setUp(bin string, store []string) (string, error) {
	args := append([]string{"keys", "create", "--clinic", clinic, "--rate-limit", "1000000", "--name", "bench", "--json"}, store...)
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		return "", fmt.Errorf("keys create: %w", err)
	}
	var k struct{ Key string }
	if err := json.Unmarshal(out, &k); err != nil {
		return "", err
	}
	return k.Key, nil
}

type bench struct {
	cfg            config
	key            string
	api, base      *process
	dir            string
	practitionerID string
	patientIDs     []string
	orderID        string // one order made by prepare (the -scale seed copies it)
	seq            atomic.Int64
	client         *http.Client
}

func (b *bench) do(method, path, body string, idem bool) (int, []byte, error) {
	req, err := http.NewRequest(method, b.api.url+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("x-api-key", b.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if idem {
		req.Header.Set("Idempotency-Key", fmt.Sprintf("bench-%d", b.seq.Add(1)))
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// prepare creates the practitioner and patients the scenarios use.
func (b *bench) prepare() error {
	b.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 0}}
	st, body, err := b.do("POST", "/api/external/practitioner", fmt.Sprintf(
		`{"clinic_id":%q,"first_name":"Bench","last_name":"Prescriber","email":"bench@clinic.test","npi":"1234567893"}`, clinic), false)
	if err != nil || st != 200 {
		return fmt.Errorf("create practitioner: %d %v %s", st, err, body)
	}
	var pr struct {
		Data struct {
			ID string `json:"practitioner_id"`
		}
	}
	json.Unmarshal(body, &pr) //nolint:errcheck // checked below
	b.practitionerID = pr.Data.ID
	for i := 0; i < 30; i++ {
		st, body, err := b.do("POST", "/api/external/patient", b.patientBody(), true)
		if err != nil || st != 200 {
			return fmt.Errorf("create patient: %d %v %s", st, err, body)
		}
		var pa struct {
			Data struct {
				ID string `json:"patient_id"`
			}
		}
		json.Unmarshal(body, &pa) //nolint:errcheck // checked by use
		b.patientIDs = append(b.patientIDs, pa.Data.ID)
	}
	for i := 0; i < 30; i++ {
		st, body, err := b.do("POST", "/api/external/medication-order", b.orderBody(), true)
		if err != nil || st != 200 {
			return fmt.Errorf("create order: %d %v %s", st, err, body)
		}
		if i == 0 {
			var o struct {
				Data struct {
					ID string `json:"id"`
				}
			}
			json.Unmarshal(body, &o) //nolint:errcheck // checked by use
			b.orderID = o.Data.ID
		}
	}
	return nil
}

func (b *bench) patientBody() string {
	n := b.seq.Add(1)
	return fmt.Sprintf(`{"clinic_id":%q,"first_name":"Load%d","last_name":"Tester","dob":"1980-01-01","email":"load%d@example.test",`+
		`"phone":"+1-555-0100","address":{"line1":"1 Bench St","city":"Austin","state":"TX","zip":"78701"},"medication_allergies":["none"]}`, clinic, n, n)
}

func (b *bench) orderBody() string {
	p := b.patientIDs[int(b.seq.Add(1))%len(b.patientIDs)]
	return fmt.Sprintf(`{"clinic_id":%q,"patient_id":%q,"practitioner_id":%q,"carrier_id":"se-3818360","service_id":"fedex_ground",`+
		`"medication_requests":[{"medication":"Semaglutide","dose":"0.25 mg","quantity":4,"direction":"Inject weekly","refills":2}]}`,
		clinic, p, b.practitionerID)
}

// scenario is one kind of request; op performs one and reports success.
type scenario struct {
	name     string
	baseline string // the baseline scenario its ratio is taken against
	op       func() bool
	floor    string // the reference doing the least its requirements allow, if any
}

// The floors: the least a server can do while keeping a durable audit
// record per request (reads), and while storing the rows a create must
// store (creates). See durable.go and createfloor.go.
const (
	durableFloor     = "floor (reads, strict): bare handler + record fsynced before the answer (group fsync)"
	incrementalFloor = "floor (reads, incremental): bare handler + record written to the OS, fsync every 25 ms"
	createFloor      = "floor (creates): a create's rows, raw SQL, group commit (NORMAL)"
)

func (b *bench) scenarios() []scenario {
	get := func(path string) func() bool {
		return func() bool { st, _, err := b.do("GET", path, "", false); return err == nil && st == 200 }
	}
	post := func(path string, body func() string) func() bool {
		return func() bool { st, _, err := b.do("POST", path, body(), true); return err == nil && st == 200 }
	}
	// base sends one request to the baseline process and reads the answer.
	base := func(send func() (*http.Response, error)) func() bool {
		return func() bool {
			resp, err := send()
			if err != nil {
				return false
			}
			io.Copy(io.Discard, resp.Body) //nolint:errcheck // benchmark
			resp.Body.Close()
			return resp.StatusCode == 200
		}
	}
	baseGetPath := func(path string) func() bool {
		return base(func() (*http.Response, error) { return b.client.Get(b.base.url + path) })
	}
	baseGet := baseGetPath("/")
	basePost := func(path string) func() bool {
		return base(func() (*http.Response, error) {
			return b.client.Post(b.base.url+path, "application/json", strings.NewReader(b.patientBody()))
		})
	}
	// The raw insert baseline gets the same request a create sends.
	baseInsert := basePost("/insert")
	createPatient := post("/api/external/patient", b.patientBody)
	createOrder := post("/api/external/medication-order", b.orderBody)
	readCarriers := get("/api/external/carriers")
	list := get("/api/external/patient?limit=25")
	listOrders := get("/api/external/medication-order?limit=25")
	var nread atomic.Int64
	readPatient := func() bool {
		return get("/api/external/patient/" + b.patientIDs[int(nread.Add(1))%len(b.patientIDs)])()
	}
	var mix atomic.Int64
	mixed := func() bool {
		switch n := mix.Add(1) % 10; {
		case n < 4:
			return readCarriers()
		case n < 5:
			return get("/api/external/patient/" + b.patientIDs[int(n)%len(b.patientIDs)])()
		case n < 7:
			return list()
		case n < 9:
			return createPatient()
		default:
			return createOrder()
		}
	}
	return []scenario{
		{"baseline: bare net/http", "", baseGet, ""},
		{"baseline: raw SQLite insert tx (NORMAL) over HTTP", "", baseInsert, ""},
		{"reference: raw SQLite insert tx (NORMAL) in-process, no HTTP", "", nil, ""},
		{durableFloor, "baseline: bare net/http", baseGetPath("/durable"), ""},
		{incrementalFloor, "baseline: bare net/http", baseGetPath("/incremental"), ""},
		{createFloor, "baseline: raw SQLite insert tx (NORMAL) over HTTP", basePost("/create-rows"), ""},
		{"read one patient by id (PHI decrypted)", "baseline: bare net/http", readPatient, incrementalFloor},
		{"authenticated read (GET /carriers)", "baseline: bare net/http", readCarriers, incrementalFloor},
		{"list 25 patients (GET /patient?limit=25)", "baseline: bare net/http", list, incrementalFloor},
		{"list 25 orders (GET /medication-order?limit=25)", "baseline: bare net/http", listOrders, incrementalFloor},
		{"create patient (idempotent)", "baseline: raw SQLite insert tx (NORMAL) over HTTP", createPatient, createFloor},
		{"create medication order (idempotent)", "baseline: raw SQLite insert tx (NORMAL) over HTTP", createOrder, createFloor},
		{"mixed partner workload", "baseline: bare net/http", mixed, incrementalFloor},
	}
}

type result struct {
	rps      float64
	p50, p99 time.Duration
	errors   int64
	rssMB    float64
	// cpuUS: the server's CPU time per request in µs (0 when not measured).
	cpuUS float64
}

// load runs op from c workers for d and measures it.
func load(c int, d time.Duration, op func() bool) result {
	var wg sync.WaitGroup
	var errs atomic.Int64
	lat := make([][]time.Duration, c)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for ctx.Err() == nil {
				t := time.Now()
				if !op() {
					errs.Add(1)
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	r := result{rps: float64(len(all)) / elapsed.Seconds(), errors: errs.Load()}
	if len(all) > 0 {
		r.p50, r.p99 = all[len(all)/2], all[len(all)*99/100]
	}
	return r
}

// openRawSQLite opens the raw insert baseline's database: WAL,
// synchronous=NORMAL, one writer connection.
func openRawSQLite(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, dob TEXT NOT NULL, created BIGINT NOT NULL)`); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// rawInsert is one single-row insert transaction.
func rawInsert(db *sql.DB, n int64) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	if _, err := tx.Exec(`INSERT INTO t (name, dob, created) VALUES (?, ?, ?)`, fmt.Sprintf("Load%d", n), "1980-01-01", time.Now().UnixNano()); err != nil {
		tx.Rollback() //nolint:errcheck // failing anyway
		return err
	}
	return tx.Commit()
}

// sqliteInserts runs the raw insert transactions in this process, with no
// HTTP in front: shown for reference (it is faster than even the bare HTTP
// handler, so it is not what an HTTP write is compared with).
func sqliteInserts(dir string, c int, d time.Duration) (result, error) {
	db, err := openRawSQLite(filepath.Join(dir, fmt.Sprintf("raw-%d.db", time.Now().UnixNano())))
	if err != nil {
		return result{}, err
	}
	defer db.Close()
	var n atomic.Int64
	return load(c, d, func() bool { return rawInsert(db, n.Add(1)) == nil }), nil
}

func (b *bench) runAll(startup time.Duration) error {
	scs := slices.DeleteFunc(b.scenarios(), func(sc scenario) bool {
		if len(b.cfg.only) == 0 || sc.baseline == "" || strings.HasPrefix(sc.name, "reference") || strings.HasPrefix(sc.name, "floor") {
			return false
		}
		for _, o := range b.cfg.only {
			if strings.Contains(sc.name, o) {
				return false
			}
		}
		return true
	})
	type key struct {
		name string
		c    int
	}
	runs := map[key][]result{}
	for round := 1; round <= b.cfg.rounds; round++ {
		for _, sc := range scs {
			for _, c := range b.cfg.concurrency {
				var r result
				if sc.op == nil {
					var err error
					if r, err = sqliteInserts(b.dir, c, b.cfg.duration); err != nil {
						return err
					}
				} else {
					server := b.api
					if strings.HasPrefix(sc.name, "baseline") || strings.HasPrefix(sc.name, "reference") || strings.HasPrefix(sc.name, "floor") {
						server = b.base
					}
					stopProfile := func() {}
					if b.cfg.profileDir != "" && server == b.api && round == 1 {
						stopProfile = b.profile(sc.name, c)
					}
					cpu0 := server.cpu()
					r = load(c, b.cfg.duration, sc.op)
					if n := r.rps * b.cfg.duration.Seconds(); n > 0 {
						r.cpuUS = float64((server.cpu() - cpu0).Microseconds()) / n
					}
					stopProfile()
					r.rssMB = server.rssMB()
				}
				runs[key{sc.name, c}] = append(runs[key{sc.name, c}], r)
				fmt.Fprintf(os.Stderr, "round %d  %-44s c=%-3d %9.0f req/s  p99 %v  errors %d\n", round, sc.name, c, r.rps, r.p99.Round(time.Microsecond), r.errors)
			}
		}
	}
	median := func(rs []result) result {
		sort.Slice(rs, func(i, j int) bool { return rs[i].rps < rs[j].rps })
		m := rs[len(rs)/2]
		var errs int64
		for _, r := range rs {
			errs += r.errors
		}
		m.errors = errs
		return m
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tconc\treq/s (median)\tp50\tp99\terrors\tserver RSS MB\tserver CPU µs/req\tratio to baseline\tp99 ratio\tof floor\t")
	var failures int64
	for _, sc := range scs {
		for _, c := range b.cfg.concurrency {
			m := median(runs[key{sc.name, c}])
			failures += m.errors
			ratio, p99r := "-", "-"
			if sc.baseline != "" {
				bm := median(runs[key{sc.baseline, c}])
				ratio = fmt.Sprintf("%.2f×", m.rps/bm.rps)
				if bm.p99 > 0 {
					p99r = fmt.Sprintf("%.2f×", float64(m.p99)/float64(bm.p99))
				}
			}
			rss := "-"
			if m.rssMB > 0 {
				rss = fmt.Sprintf("%.0f", m.rssMB)
			}
			ofFloor := "-"
			if fm := runs[key{sc.floor, c}]; sc.floor != "" && len(fm) > 0 {
				ofFloor = fmt.Sprintf("%.2f×", m.rps/median(fm).rps)
			}
			cpu := "-"
			if m.cpuUS > 0 {
				cpu = fmt.Sprintf("%.0f", m.cpuUS)
			}
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%v\t%v\t%d\t%s\t%s\t%s\t%s\t%s\t\n", sc.name, c, m.rps,
				m.p50.Round(time.Microsecond), m.p99.Round(time.Microsecond), m.errors, rss, cpu, ratio, p99r, ofFloor)
		}
	}
	tw.Flush()
	fmt.Printf("\nstart-up to ready on an existing database: %v; server RSS at the end: %.0f MB\n", startup.Round(time.Millisecond), b.api.rssMB())
	if failures > 0 {
		return errors.New("some requests failed (see errors column)")
	}
	return nil
}

// profile starts a CPU profile of the API server for the length of one
// scenario run and returns a function that waits for it and writes it to
// profileDir as <scenario>-c<n>.prof.
func (b *bench) profile(name string, c int) func() {
	file := filepath.Join(b.cfg.profileDir, fmt.Sprintf("%s-c%d.prof", strings.Trim(nonWord.ReplaceAllString(name, "-"), "-"), c))
	secs := max(1, int(b.cfg.duration.Seconds()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", b.cfg.metricsURL, secs))
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: profile:", err)
			return
		}
		defer resp.Body.Close()
		out, err := os.Create(file)
		if err == nil {
			_, err = io.Copy(out, resp.Body)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: profile:", err)
		}
	}()
	return func() { <-done }
}

var nonWord = regexp.MustCompile(`[^A-Za-z0-9]+`)
