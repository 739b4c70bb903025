package main

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// TestKeyRotationWhileServing writes rows under master key v1, rotates to v2
// while requests continue, and checks every row is readable and none is
// still sealed under v1.
func TestKeyRotationWhileServing(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "development")
	k := ts.newKey("--clinic", demoClinic, "--rate-limit", "1000000")
	for i := 0; i < 10; i++ {
		expectOK(t, ts.req("POST", "/api/external/patient", k.Key, map[string]any{
			"clinic_id": demoClinic, "first_name": fmt.Sprintf("Rota%03d", i), "last_name": "Tion", "dob": "1970-01-01",
			"medication_allergies": []any{"Rotamycin"}}))
	}
	var before struct {
		ValuesByVersion map[string]int `json:"values_by_version"`
	}
	ts.mustCLI(&before, "crypto", "status")
	if before.ValuesByVersion["1"] == 0 || len(before.ValuesByVersion) != 1 {
		t.Fatalf("before rotation: %v, want only v1", before.ValuesByVersion)
	}

	// Traffic during the rotation: creates and reads must all succeed.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var during atomic.Int64
	var failures atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			r := ts.req("POST", "/api/external/patient", k.Key, map[string]any{
				"clinic_id": demoClinic, "first_name": fmt.Sprintf("During%04d", i), "last_name": "Rotation", "dob": "1971-01-01"})
			l := ts.req("GET", "/api/external/patient?limit=100", k.Key, nil)
			if r.Status != 200 || l.Status != 200 {
				failures.Add(1)
				t.Errorf("request during rotation failed: %d %s / %d", r.Status, r.Body, l.Status)
				return
			}
			during.Add(1)
		}
	}()
	newKey := filepath.Join(t.TempDir(), "v2.key")
	if err := os.WriteFile(newKey, []byte(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789ABCDEF"))), 0o600); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Version         int            `json:"version"`
		ValuesByVersion map[string]int `json:"values_by_version"`
	}
	ts.mustCLI(&res, "crypto", "rotate", "--new-key-file", newKey, "--batch", "3")
	close(stop)
	wg.Wait()
	if res.Version != 2 || res.ValuesByVersion["1"] != 0 || res.ValuesByVersion["2"] == 0 {
		t.Fatalf("rotation result %+v, want everything under v2", res)
	}
	if during.Load() == 0 || failures.Load() != 0 {
		t.Fatalf("%d requests during rotation, %d failures", during.Load(), failures.Load())
	}
	// Every row is readable, by list and one by one.
	cursor, n := "", 0
	for {
		r := ts.req("GET", "/api/external/patient?limit=100&cursor="+cursor, k.Key, nil)
		expectOK(t, r)
		var page struct {
			Items []struct {
				ID string `json:"id"`
			}
			NextCursor *string `json:"next_cursor"`
		}
		r.data(t, &page)
		for _, it := range page.Items {
			expectOK(t, ts.req("GET", "/api/external/patient/"+it.ID, k.Key, nil))
			n++
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	if want := 10 + int(during.Load()) + 1; n != want { // + the development data's patient
		t.Errorf("%d patients readable, want %d", n, want)
	}
	// Running it again resumes harmlessly; still nothing under v1.
	ts.mustCLI(&res, "crypto", "rotate", "--new-key-file", newKey)
	if res.Version != 2 || res.ValuesByVersion["1"] != 0 {
		t.Errorf("second run: %+v", res)
	}
	// After a restart the server reads everything with the rotated keyring.
	ts.restart()
	expectOK(t, ts.req("GET", "/api/external/patient?limit=100", k.Key, nil))
}
