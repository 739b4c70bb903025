package audit

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

func sampleRecord() *novamed.AuditRecord {
	return &novamed.AuditRecord{
		Seq: 41, Time: time.Date(2026, 11, 27, 7, 30, 1, 123456789, time.UTC),
		RequestID: "req_263ad7edcf8899b05b74cdf6", KeyID: "0192f4c2-7c4e-7d3a-9b1e-3f0c2a6d8e11",
		KeyOwner: "550e8400-e29b-41d4-a716-446655440000", ClinicID: "550e8400-e29b-41d4-a716-446655440000",
		Action: "GET /api/external/carriers", ResourceType: "carrier", ResourceIDs: []string{"a", "b"},
		ClientAddr: "127.0.0.1", UserAgent: "Go-http-client/1.1", Status: 200,
		PrevHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	}
}

// marshalled is what Canonical must return: json.Marshal of the record as
// Canonical normalises it.
func marshalled(t testing.TB, rec *novamed.AuditRecord) []byte {
	c := *rec
	c.Time = c.Time.UTC().Truncate(time.Microsecond)
	c.Hash = ""
	b, err := json.Marshal(&c)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	return b
}

func TestCanonicalIsJSONMarshal(t *testing.T) {
	cases := map[string]func(r *novamed.AuditRecord){
		"typical": func(r *novamed.AuditRecord) {},
		"failed authentication": func(r *novamed.AuditRecord) {
			r.KeyID, r.KeyOwner, r.ClinicID, r.KeyPrefix, r.Status = "", "", "", "dev_AbC", 401
		},
		"no resource ids":      func(r *novamed.AuditRecord) { r.ResourceIDs = nil },
		"empty resource ids":   func(r *novamed.AuditRecord) { r.ResourceIDs = []string{} },
		"empty required":       func(r *novamed.AuditRecord) { r.RequestID, r.Action, r.PrevHash = "", "", "" },
		"hash is dropped":      func(r *novamed.AuditRecord) { r.Hash = "abc" },
		"quote in user agent":  func(r *novamed.AuditRecord) { r.UserAgent = `curl "x"` },
		"html in user agent":   func(r *novamed.AuditRecord) { r.UserAgent = "<script>&amp;" },
		"ampersand":            func(r *novamed.AuditRecord) { r.UserAgent = "a&b" },
		"greater than":         func(r *novamed.AuditRecord) { r.ResourceIDs = []string{"a>b"} },
		"backslash":            func(r *novamed.AuditRecord) { r.Action = `a\b` },
		"non-ASCII":            func(r *novamed.AuditRecord) { r.UserAgent = "Müller\u2028" },
		"invalid UTF-8":        func(r *novamed.AuditRecord) { r.ResourceIDs = []string{"\xff"} },
		"control character":    func(r *novamed.AuditRecord) { r.UserAgent = "a\tb\x00" },
		"DEL":                  func(r *novamed.AuditRecord) { r.UserAgent = "a\x7f" },
		"whole seconds":        func(r *novamed.AuditRecord) { r.Time = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) },
		"other zone":           func(r *novamed.AuditRecord) { r.Time = r.Time.In(time.FixedZone("X", -5*3600)) },
		"negative seq, status": func(r *novamed.AuditRecord) { r.Seq, r.Status = -1, -500 },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			rec := sampleRecord()
			mutate(rec)
			got, err := Canonical(rec)
			if err != nil {
				t.Fatalf("Canonical: %v", err)
			}
			if want := marshalled(t, rec); !bytes.Equal(got, want) {
				t.Fatalf("Canonical differs from json.Marshal:\n got %s\nwant %s", got, want)
			}
		})
	}
	// The hand encoder covers the typical record itself (no fallback).
	c := *sampleRecord()
	c.Time = c.Time.Truncate(time.Microsecond)
	if _, ok := appendCanonical(nil, &c); !ok {
		t.Fatal("the typical record fell back to json.Marshal")
	}
	// A year JSON cannot encode is refused, as json.Marshal refuses it.
	rec := sampleRecord()
	rec.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := Canonical(rec); err == nil {
		t.Fatal("Canonical encoded the year 10000")
	}
}

// TestCanonicalV2IsJSONMarshal: the version 2 hand encoder writes what
// json.Marshal writes for the record's recordV2, and Decode reads it back.
func TestCanonicalV2IsJSONMarshal(t *testing.T) {
	cases := map[string]func(r *novamed.AuditRecord){
		"typical":             func(r *novamed.AuditRecord) {},
		"minimal":             func(r *novamed.AuditRecord) { *r = novamed.AuditRecord{Seq: 1, Time: r.Time} },
		"actor and latency":   func(r *novamed.AuditRecord) { r.Actor, r.LatencyUS, r.ClientRequestID = "operator:7", 1843, "c-1" },
		"quote in user agent": func(r *novamed.AuditRecord) { r.UserAgent = `curl "x"` },
		"html in resource id": func(r *novamed.AuditRecord) { r.ResourceIDs = []string{"<a&b>"} },
		"non-ASCII":           func(r *novamed.AuditRecord) { r.KeyOwner = "Müller\u2028" },
		"invalid UTF-8":       func(r *novamed.AuditRecord) { r.Action = "\xff" },
		"before 1970":         func(r *novamed.AuditRecord) { r.Time = time.Date(1900, 1, 1, 0, 0, 0, 1000, time.UTC) },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			rec := sampleRecord()
			mutate(rec)
			rec.Format = 2
			got, err := Canonical(rec)
			if err != nil {
				t.Fatalf("Canonical: %v", err)
			}
			c := *rec
			c.Time = c.Time.UTC().Truncate(time.Microsecond)
			want, err := json.Marshal(toV2(&c))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Canonical v2 differs from json.Marshal:\n got %s\nwant %s", got, want)
			}
			if name == "invalid UTF-8" {
				return // encoded as U+FFFD, as version 1 does: not the bytes given
			}
			back, err := Decode(&novamed.AuditRow{Seq: rec.Seq, Record: got, PrevHash: "p", Hash: "h"})
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			again, err := Canonical(back)
			if err != nil || !bytes.Equal(again, got) || back.Format != 2 || back.PrevHash != "p" || back.Hash != "h" {
				t.Fatalf("Decode then Canonical = %s, %v (format %d, prev %q, hash %q); want the same bytes", again, err, back.Format, back.PrevHash, back.Hash)
			}
		})
	}
	// Smaller than version 1 for the same record.
	v1, _ := Canonical(sampleRecord())
	r2 := sampleRecord()
	r2.Format = 2
	v2, _ := Canonical(r2)
	if len(v2) >= len(v1)-64 {
		t.Fatalf("version 2 is %d bytes, version 1 %d: want at least the hex previous hash less", len(v2), len(v1))
	}
	// An unknown version is named, not read as version 2.
	if _, err := Decode(&novamed.AuditRow{Seq: 9, Record: []byte(`{"v":3,"seq":9}`)}); err == nil || !strings.Contains(err.Error(), "version 3") {
		t.Fatalf("Decode of version 3 = %v; want an unknown-version error", err)
	}
}

func FuzzCanonical(f *testing.F) {
	f.Add(int64(1), int64(1795764094123456), "req_1", "key", "owner", "dev_", "clinic", "GET /x", "patient", "id1", "127.0.0.1", "curl/8", 200, "prev")
	f.Add(int64(-7), int64(0), "", "", "", "", "", "", "", "", "", `"<&>\`, 0, "")
	f.Add(int64(9), int64(-62135596800000000), "\xff", "\u2028", "é", "\x7f", "\x1f", "a", "b", "c", "d", "e", 404, "f")
	f.Fuzz(func(t *testing.T, seq, micros int64, reqID, keyID, owner, prefix, clinic, action, rtype, rid, addr, ua string, status int, prev string) {
		rec := &novamed.AuditRecord{Seq: seq, Time: time.UnixMicro(micros), RequestID: reqID, ClientRequestID: prefix, KeyID: keyID, KeyOwner: owner,
			KeyPrefix: prefix, ClinicID: clinic, Action: action, ResourceType: rtype, ClientAddr: addr, UserAgent: ua,
			Status: status, PrevHash: prev}
		if rid != "" {
			rec.ResourceIDs = []string{rid, action}
		}
		rec.LatencyUS = int64(status) * 3
		if status%2 == 0 {
			rec.Actor = owner
		}
		if status%3 == 0 {
			rec.Format = 2
			got, err := Canonical(rec)
			c := *rec
			c.Time = c.Time.UTC().Truncate(time.Microsecond)
			want, wantErr := json.Marshal(toV2(&c))
			if (err != nil) != (wantErr != nil) || (err == nil && !bytes.Equal(got, want)) {
				t.Fatalf("Canonical v2 = %s, %v; json.Marshal = %s, %v", got, err, want, wantErr)
			}
			return
		}
		got, err := Canonical(rec)
		c := *rec
		c.Time = c.Time.UTC().Truncate(time.Microsecond)
		c.Hash = ""
		want, wantErr := json.Marshal(&c)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("Canonical error %v, json.Marshal error %v", err, wantErr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("Canonical differs from json.Marshal:\n got %s\nwant %s", got, want)
		}
	})
}

func BenchmarkCanonical(b *testing.B) {
	rec := sampleRecord()
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			marshalled(b, rec)
		}
	})
	b.Run("Canonical", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Canonical(rec); err != nil {
				b.Fatal(err)
			}
		}
	})
}
