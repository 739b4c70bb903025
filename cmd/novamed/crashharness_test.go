package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// crashOp is one idempotent request of the harness.
type crashOp struct {
	kind, path, body string
}

// TestCrashHarness SIGKILLs the server at random moments (20 times) while
// partners create patients, orders and webhook registrations with unique
// Idempotency-Keys, read patients, and the sandbox moves orders through
// their lifecycle. Afterwards: every acknowledged write is present with its
// audit record, every answered read has its audit record, every order's
// outbox events match its status exactly, retries create nothing new, and
// the audit chain verifies. It runs in both audit durability modes: in the
// incremental one a read's record is only handed to the OS before the
// answer, which a SIGKILL must not lose either.
func TestCrashHarness(t *testing.T) {
	t.Parallel()
	sqliteOnly(t)
	bin := buildBinary(t)
	for _, mode := range []string{"incremental", "strict"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel() // each mode has its own process and data folder
			crashHarness(t, bin, mode)
		})
	}
}

func crashHarness(t *testing.T, bin, mode string) {
	const kills = 20
	dataDir := t.TempDir()
	flags := []string{"--sandbox", "on", "--sandbox-step", "30ms", "--webhook-poll", "1h", "--audit-durability", mode}
	p := startProcess(t, bin, dataDir, flags...)
	defer func() { p.kill() }()
	raw, err := exec.Command(bin, "keys", "create", "--clinic", demoClinic, "--rate-limit", "1000000", "--json", "--data-dir", dataDir).Output()
	if err != nil {
		t.Fatalf("keys create: %v", err)
	}
	var issued issuedKey
	json.Unmarshal(raw, &issued) //nolint:errcheck // checked by use
	key := issued.Key
	send := func(url string, op crashOp, idem string) (int, string, error) {
		req, _ := http.NewRequest("POST", url+op.path, bytes.NewReader([]byte(op.body)))
		req.Header.Set("x-api-key", key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", idem)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var env struct {
			Data map[string]any
		}
		json.Unmarshal(b, &env) //nolint:errcheck // status tells
		id, _ := env.Data["id"].(string)
		return resp.StatusCode, id, nil
	}
	// A practitioner and a patient for the orders.
	st, prID, _ := send(p.url, crashOp{path: "/api/external/practitioner", body: fmt.Sprintf(
		`{"clinic_id":%q,"first_name":"Kai","last_name":"Crash","email":"kai@clinic.test","npi":"1234567893"}`, demoClinic)}, "setup-1")
	st2, paID, _ := send(p.url, crashOp{path: "/api/external/patient", body: fmt.Sprintf(
		`{"clinic_id":%q,"first_name":"Olive","last_name":"Orders","dob":"1970-01-01","state":"TX","city":"Austin"}`, demoClinic)}, "setup-2")
	if st != 200 || st2 != 200 {
		t.Fatalf("setup: %d %d", st, st2)
	}
	opFor := func(i int) crashOp {
		switch {
		case i%10 < 6:
			return crashOp{"patient", "/api/external/patient", fmt.Sprintf(`{"clinic_id":%q,"first_name":"Crash%d","last_name":"Survivor","dob":"1980-01-01"}`, demoClinic, i)}
		case i%10 < 9:
			return crashOp{"medication_order", "/api/external/medication-order", fmt.Sprintf(`{"clinic_id":%q,"patient_id":%q,"practitioner_id":%q,`+
				`"delivery_speed":"business-day","medication_requests":[{"medication":"Metformin","dose":"%d mg","quantity":1,"direction":"daily"}]}`, demoClinic, paID, prID, i)}
		default:
			return crashOp{"webhook", "/api/external/webhook", fmt.Sprintf(`{"clinic_id":%q,"webhook_url":"http://127.0.0.1:9/hook%d"}`, demoClinic, i)}
		}
	}
	// read reads the setup patient and returns the request id of a 200.
	read := func(url string) (string, error) {
		req, _ := http.NewRequest("GET", url+"/api/external/patient/"+paID, nil)
		req.Header.Set("x-api-key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body) //nolint:errcheck // the status tells
		if resp.StatusCode != 200 {
			return "", nil
		}
		return resp.Header.Get("X-Request-Id"), nil
	}
	type ack struct {
		status int
		id     string
	}
	acked := map[int]ack{}
	readsAnswered := map[string]bool{} // request ids of answered PHI reads
	attempted := 0
	var mu sync.Mutex
	for round := 0; round < kills; round++ {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := 0; w < 3; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					id, err := read(p.url)
					if err != nil {
						return
					}
					if id != "" {
						mu.Lock()
						readsAnswered[id] = true
						mu.Unlock()
					}
				}
			}()
		}
		for w := 0; w < 6; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					mu.Lock()
					i := attempted
					attempted++
					mu.Unlock()
					status, id, err := send(p.url, opFor(i), fmt.Sprintf("crash-%d", i))
					if err != nil {
						return
					}
					if status < 500 {
						mu.Lock()
						acked[i] = ack{status, id}
						mu.Unlock()
					}
				}
			}()
		}
		// The behaviour under test: a kill at a random moment of the load
		// (not a wait for something to happen).
		time.Sleep(time.Duration(60+rand.IntN(250)) * time.Millisecond)
		p.kill()
		cancel()
		wg.Wait()
		p = startProcess(t, bin, dataDir, flags...)
	}
	// Retries with the same keys answer as before and create nothing new.
	created := map[string][]string{}
	for i := 0; i < attempted; i++ {
		op := opFor(i)
		status, id, err := send(p.url, op, fmt.Sprintf("crash-%d", i))
		if err != nil || status >= 500 {
			t.Fatalf("retry %d: %d %v", i, status, err)
		}
		if a, ok := acked[i]; ok && (a.status != status || a.id != id) {
			t.Errorf("retry %d answered %d %s; before the crash %d %s", i, status, id, a.status, a.id)
		}
		if status == 200 {
			created[op.kind] = append(created[op.kind], id)
		}
	}
	// Every acknowledged resource exists, exactly once.
	for kind, path := range map[string]string{"patient": "/api/external/patient/", "medication_order": "/api/external/medication-order/", "webhook": "/api/external/webhook/"} {
		for _, id := range created[kind] {
			req, _ := http.NewRequest("GET", p.url+path+id, nil)
			req.Header.Set("x-api-key", key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("%s %s missing after the crashes", kind, id)
			}
			if resp != nil {
				resp.Body.Close()
			}
		}
	}
	p.kill()
	// Each acknowledged create has its audit record.
	out, err := exec.Command(bin, "audit", "export", "--data-dir", dataDir).Output()
	if err != nil {
		t.Fatal(err)
	}
	audited, readAudited := map[string]bool{}, map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var rec struct {
			Action      string
			RequestID   string   `json:"request_id"`
			ResourceIDs []string `json:"resource_ids"`
			Status      int
		}
		json.Unmarshal([]byte(line), &rec) //nolint:errcheck // lines are JSON
		if strings.HasSuffix(rec.Action, ".create") && rec.Status == 200 && len(rec.ResourceIDs) > 0 {
			audited[rec.ResourceIDs[0]] = true
		}
		if rec.Status == 200 && slices.Contains(rec.ResourceIDs, paID) {
			readAudited[rec.RequestID] = true
		}
	}
	lostReads := 0
	for id := range readsAnswered {
		if !readAudited[id] {
			lostReads++
		}
	}
	if lostReads > 0 {
		t.Errorf("%d of %d answered patient reads have no audit record after the kills", lostReads, len(readsAnswered))
	}
	for kind, ids := range created {
		for _, id := range ids {
			if !audited[id] {
				t.Errorf("%s %s has no audit record", kind, id)
			}
		}
	}
	// Every order's events match its status: nothing half-written.
	perOrder := map[string][]string{}
	after := ""
	for {
		out, err := exec.Command(bin, "events", "list", "--clinic", demoClinic, "--limit", "1000", "--after", after, "--json", "--data-dir", dataDir).Output()
		if err != nil {
			t.Fatal(err)
		}
		var evs struct {
			Events []struct {
				ID   string         `json:"id"`
				Name string         `json:"event_name"`
				Data map[string]any `json:"event_data"`
			}
		}
		json.Unmarshal(out, &evs) //nolint:errcheck // checked by counts
		for _, e := range evs.Events {
			if id, _ := e.Data["id"].(string); strings.HasPrefix(e.Name, "medication_order:") || e.Name == "shipment:created" {
				perOrder[id] = append(perOrder[id], e.Name)
			}
			after = e.ID
		}
		if len(evs.Events) < 1000 {
			break
		}
	}
	lifecycle := []string{"medication_order:verified", "medication_order:submitted", "medication_order:acknowledged",
		"medication_order:filled", "shipment:created", "medication_order:delivered"}
	q := startProcess(t, bin, dataDir, "--sandbox", "off", "--webhook-poll", "1h")
	defer q.kill()
	checked := 0
	for _, id := range created["medication_order"] {
		req, _ := http.NewRequest("GET", q.url+"/api/external/medication-order/"+id, nil)
		req.Header.Set("x-api-key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var o struct {
			Data struct{ Status string }
		}
		json.NewDecoder(resp.Body).Decode(&o) //nolint:errcheck // checked below
		resp.Body.Close()
		steps := slices.Index([]string{"created", "verified", "submitted", "acknowledged", "filled", "shipped", "delivered"}, o.Data.Status)
		if steps < 0 {
			t.Fatalf("order %s status %q", id, o.Data.Status)
		}
		if got, want := perOrder[id], lifecycle[:steps]; !slices.Equal(got, want) {
			t.Errorf("order %s in status %s has events %v, want %v", id, o.Data.Status, got, want)
		}
		checked++
	}
	q.kill()
	if out, err := exec.Command(bin, "audit", "verify", "--data-dir", dataDir).CombinedOutput(); err != nil {
		t.Errorf("audit verify after %d kills: %v\n%s", kills, err, out)
	}
	t.Logf("%s: %d kills; %d requests attempted, %d answered before a kill; created %d patients, %d orders (events checked), %d webhooks; %d reads answered and audited; 0 lost",
		mode, kills, attempted, len(acked), len(created["patient"]), checked, len(created["webhook"]), len(readsAnswered))
}
