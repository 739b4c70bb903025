package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// soak drives realistic mixed traffic from many keys against one server for
// a long time and reports throughput, errors by status, latency and the
// server's RSS over time (a leak shows as growth).
func soak(bin string, store []string, api *process, keys, perKeyLimit, workers int, d time.Duration) error {
	var ks []string
	for i := 0; i < keys; i++ {
		args := append([]string{"keys", "create", "--clinic", clinic, "--rate-limit", fmt.Sprint(perKeyLimit),
			"--name", fmt.Sprintf("soak-%d", i), "--json"}, store...)
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			return fmt.Errorf("keys create: %w", err)
		}
		var k struct{ Key string }
		if err := json.Unmarshal(out, &k); err != nil {
			return err
		}
		ks = append(ks, k.Key)
	}
	b := &bench{key: ks[0], api: api}
	if err := b.prepare(); err != nil {
		return err
	}
	client := b.client
	var seq atomic.Int64
	do := func(key, method, path, body string) int {
		req, _ := http.NewRequest(method, api.url+path, strings.NewReader(body))
		req.Header.Set("x-api-key", key)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", fmt.Sprintf("soak-%d", seq.Add(1)))
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck // draining
		resp.Body.Close()
		return resp.StatusCode
	}
	var mu sync.Mutex
	statuses := map[int]int64{}
	var lat []time.Duration
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	rss := []float64{api.rssMB()}
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				mu.Lock()
				rss = append(rss, api.rssMB())
				mu.Unlock()
			}
		}
	}()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			key := ks[w%len(ks)]
			local := map[int]int64{}
			var l []time.Duration
			for i := 0; ctx.Err() == nil; i++ {
				t := time.Now()
				var st int
				switch i % 10 {
				case 0, 1, 2:
					st = do(key, "GET", "/api/external/carriers", "")
				case 3:
					st = do(key, "GET", "/api/external/patient/"+b.patientIDs[i%len(b.patientIDs)], "")
				case 4, 5:
					st = do(key, "GET", "/api/external/patient?limit=25", "")
				case 6, 7:
					st = do(key, "POST", "/api/external/patient", b.patientBody())
				case 8:
					st = do(key, "POST", "/api/external/medication-order", b.orderBody())
				default:
					st = do(key, "GET", "/api/external/me", "")
				}
				local[st]++
				l = append(l, time.Since(t))
				if st == 429 {
					time.Sleep(200 * time.Millisecond) // a polite client backs off
				}
			}
			mu.Lock()
			for k, v := range local {
				statuses[k] += v
			}
			lat = append(lat, l...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	rss = append(rss, api.rssMB())
	slices.Sort(lat)
	var total int64
	codes := make([]int, 0, len(statuses))
	for c, n := range statuses {
		total += n
		codes = append(codes, c)
	}
	sort.Ints(codes)
	fmt.Printf("soak: %v, %d keys (limit %d/min each), %d workers\n", d, keys, perKeyLimit, workers)
	fmt.Printf("requests: %d (%.0f req/s)\n", total, float64(total)/elapsed.Seconds())
	for _, c := range codes {
		fmt.Printf("  status %d: %d\n", c, statuses[c])
	}
	if len(lat) > 0 {
		fmt.Printf("latency p50 %v, p99 %v\n", lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond))
	}
	first, last := rss[1%len(rss)], rss[len(rss)-1] // after the first 30 s of warm-up
	fmt.Printf("server RSS MB over time: %v\n", roundAll(rss))
	fmt.Printf("RSS growth after warm-up: %.1f%%\n", 100*(last-first)/first)
	bad := int64(0)
	for c, n := range statuses {
		if c != 200 && c != 429 {
			bad += n
		}
	}
	if bad > 0 {
		fmt.Fprintf(os.Stderr, "soak: %d unexpected answers\n", bad)
		return fmt.Errorf("%d requests failed", bad)
	}
	return nil
}

func roundAll(xs []float64) []int {
	out := make([]int, len(xs))
	for i, x := range xs {
		out[i] = int(x + 0.5)
	}
	return out
}
