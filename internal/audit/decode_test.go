package audit

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/novamed/partner-api/internal/novamed"
)

// FuzzDecodeV2: whatever the hand reader accepts, json.Unmarshal reads to
// the same record; and every canonical version 2 record is accepted.
func FuzzDecodeV2(f *testing.F) {
	r := sampleRecord()
	r.Format = 2
	canon, err := Canonical(r)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(canon)
	f.Add([]byte(`{"v":2,"seq":1,"t":0,"rid":"","act":"","st":0}`))
	f.Add([]byte(`{"v":2,"seq":-0,"t":01,"rid":"a","act":"b","st":200}`))
	f.Add([]byte(`{"v":2,"seq":1,"seq":2,"t":0,"rid":"a","act":"b","st":200}`))
	f.Add([]byte(`{"v":2,"t":0,"seq":1,"rid":"a","act":"b","st":200}`))
	f.Add([]byte(`{"v":2,"seq":1,"t":0,"rid":"a\u0041","rids":[],"act":"b","st":200}`))
	f.Add([]byte(`{"v":2,"seq":1,"t":0,"rid":"a","rids":["x","y"],"act":"b","st":200,"lat":9223372036854775808}`))
	f.Add([]byte(`{"v":2,"seq":1,"t":0,"rid":"a","act":"b","st":200} `))
	f.Add([]byte(`{"v":2,"seq":1.5,"t":1e3,"RID":"a","act":"b","st":200}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := decodeV2(b)
		if !ok {
			return
		}
		var want recordV2
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("decodeV2 accepted %q, which json.Unmarshal refuses: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeV2(%q) = %+v; json.Unmarshal = %+v", b, got, want)
		}
	})
}

// TestDecodeV2ReadsCanonicalRecords: the records a trail holds take the
// fast path (else the archive pass pays json.Unmarshal again), and Decode
// gives the same record either way.
func TestDecodeV2ReadsCanonicalRecords(t *testing.T) {
	for i, r := range []*novamed.AuditRecord{sampleRecord(), {Seq: 7, RequestID: "req_x", Action: "GET /v1/x", Status: 200}} {
		r.Format = 2
		canon, err := Canonical(r)
		if err != nil {
			t.Fatal(err)
		}
		v, ok := decodeV2(canon)
		if !ok {
			t.Fatalf("record %d: decodeV2 refused the canonical %s", i, canon)
		}
		var want recordV2
		if err := json.Unmarshal(canon, &want); err != nil || !reflect.DeepEqual(v, want) {
			t.Fatalf("record %d: decodeV2 = %+v; json.Unmarshal = %+v, %v", i, v, want, err)
		}
	}
}

func BenchmarkDecodeV2(b *testing.B) {
	r := sampleRecord()
	r.Format = 2
	canon, err := Canonical(r)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("json.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v recordV2
			if err := json.Unmarshal(canon, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decodeV2", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := decodeV2(canon); !ok {
				b.Fatal("refused")
			}
		}
	})
}
