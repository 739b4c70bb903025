package novamed

import (
	"bytes"
	"encoding/json"
	"testing"
)

// duplicateKeyOracle is the straightforward checker (json.Decoder tokens)
// that duplicateKey replaced for speed; the fuzz test holds them equal.
func duplicateKeyOracle(body []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		keys      map[string]bool
		object    bool
		expectKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if top != nil && top.object {
					top.expectKey = true
				}
				stack = append(stack, &frame{keys: map[string]bool{}, object: t == '{', expectKey: t == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if top != nil && top.object && top.expectKey {
				if top.keys[t] {
					return t, true
				}
				top.keys[t] = true
				top.expectKey = false
				continue
			}
			if top != nil && top.object {
				top.expectKey = true
			}
		default:
			if top != nil && top.object {
				top.expectKey = true
			}
		}
	}
}

var duplicateKeyCases = []string{
	`{"a":1,"b":2}`,
	`{"a":1,"a":2}`,
	`{"a":{"b":1,"b":2}}`,
	`{"a":[{"x":1},{"x":1}],"b":{"a":1}}`,
	`{"a":"\"a\"","\u0061":2}`,
	`{"k\"ey":1,"k\u0022ey":2}`,
	`{"a":"}","b":"{\"a\":1,\"a\":1}"}`,
	`{"s":"\\","s2":"\\\\"}`,
	`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17,"k3":3}`,
	`[{"a":1},{"a":1,"a":1}]`,
	`{"":1,"":2}`,
	`{"a":[1,2,{"b":[{"c":1,"c":2}]}]}`,
}

func TestDuplicateKey(t *testing.T) {
	for _, c := range duplicateKeyCases {
		gotKey, got := duplicateKey([]byte(c))
		wantKey, want := duplicateKeyOracle([]byte(c))
		if got != want || gotKey != wantKey {
			t.Errorf("%s: duplicateKey = %q %v, oracle %q %v", c, gotKey, got, wantKey, want)
		}
	}
	if k, dup := duplicateKey([]byte(`{"a":1,"\u0061":2}`)); !dup || k != "a" {
		t.Errorf(`"a" and "\u0061" not seen as one key: %q %v`, k, dup)
	}
}

// FuzzDuplicateKey: on every valid JSON document the fast checker and the
// token-based oracle agree.
func FuzzDuplicateKey(f *testing.F) {
	for _, c := range duplicateKeyCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !json.Valid([]byte(s)) {
			return
		}
		gotKey, got := duplicateKey([]byte(s))
		wantKey, want := duplicateKeyOracle([]byte(s))
		if got != want || gotKey != wantKey {
			t.Fatalf("%s: duplicateKey = %q %v, oracle %q %v", s, gotKey, got, wantKey, want)
		}
	})
}
