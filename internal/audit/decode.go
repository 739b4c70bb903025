package audit

import (
	"strconv"
)

// keyOrderV2 is where appendCanonicalV2 writes key in a version 2 record, or
// -1 for a key it does not write.
func keyOrderV2(key string) int {
	switch key {
	case "v":
		return 0
	case "seq":
		return 1
	case "t":
		return 2
	case "rid":
		return 3
	case "crid":
		return 4
	case "actor":
		return 5
	case "kid":
		return 6
	case "owner":
		return 7
	case "kpfx":
		return 8
	case "clinic":
		return 9
	case "act":
		return 10
	case "rtype":
		return 11
	case "rids":
		return 12
	case "addr":
		return 13
	case "ua":
		return 14
	case "st":
		return 15
	case "lat":
		return 16
	}
	return -1
}

// decodeV2 reads a version 2 record in the shape appendCanonicalV2 writes — no
// whitespace, each known key at most once and in canonical order, strings
// of printable ASCII without escapes, integers — without json.Unmarshal,
// which was over half of checking a record (the archive pass checks each
// record when it seals, archives, reads back and prunes it). It reports
// false for anything else, and Decode falls back to json.Unmarshal:
// whatever it accepts, json.Unmarshal reads to the same value
// (FuzzDecodeV2). The strings share one copy of b.
func decodeV2(b []byte) (recordV2, bool) {
	var v recordV2
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return v, false
	}
	s := string(b) // one allocation; every field is a substring of it
	i, next := 1, 0
	for {
		// "key":
		if i >= len(s) || s[i] != '"' {
			return v, false
		}
		end := i + 1
		for end < len(s) && s[end] != '"' {
			end++
		}
		if end+1 >= len(s) || s[end+1] != ':' {
			return v, false
		}
		key := s[i+1 : end]
		k := keyOrderV2(key)
		if k < next {
			return v, false // unknown, repeated or out of order
		}
		next = k + 1
		i = end + 2
		var ok bool
		switch key {
		case "v", "st":
			var n int64
			if n, i, ok = readInt(s, i); !ok || int64(int(n)) != n {
				return v, false
			}
			if key == "v" {
				v.V = int(n)
			} else {
				v.Status = int(n)
			}
		case "seq":
			v.Seq, i, ok = readInt(s, i)
		case "t":
			v.T, i, ok = readInt(s, i)
		case "lat":
			v.LatencyUS, i, ok = readInt(s, i)
		case "rids":
			v.ResourceIDs, i, ok = readStrings(s, i)
		default:
			var str string
			str, i, ok = readString(s, i)
			*fieldV2(&v, key) = str
		}
		if !ok || i >= len(s) {
			return v, false
		}
		switch s[i] {
		case ',':
			i++
		case '}':
			return v, i == len(s)-1
		default:
			return v, false
		}
	}
}

// fieldV2 is the string field of v that key names.
func fieldV2(v *recordV2, key string) *string {
	switch key {
	case "rid":
		return &v.RequestID
	case "crid":
		return &v.ClientRequestID
	case "actor":
		return &v.Actor
	case "kid":
		return &v.KeyID
	case "owner":
		return &v.KeyOwner
	case "kpfx":
		return &v.KeyPrefix
	case "clinic":
		return &v.ClinicID
	case "act":
		return &v.Action
	case "rtype":
		return &v.ResourceType
	case "addr":
		return &v.ClientAddr
	default: // "ua"
		return &v.UserAgent
	}
}

// readString reads a JSON string of printable ASCII without escapes at
// s[i] and returns it and the index after it.
func readString(s string, i int) (string, int, bool) {
	if i >= len(s) || s[i] != '"' {
		return "", i, false
	}
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			return s[i+1 : j], j + 1, true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return "", i, false
		}
	}
	return "", i, false
}

// readStrings reads a non-empty JSON array of such strings.
func readStrings(s string, i int) ([]string, int, bool) {
	if i >= len(s) || s[i] != '[' {
		return nil, i, false
	}
	var out []string
	i++
	for {
		str, j, ok := readString(s, i)
		if !ok || j >= len(s) {
			return nil, i, false
		}
		out = append(out, str)
		switch s[j] {
		case ',':
			i = j + 1
		case ']':
			return out, j + 1, true
		default:
			return nil, i, false
		}
	}
}

// readInt reads a JSON integer (-?(0|[1-9][0-9]*), no fraction or
// exponent) that fits an int64 at s[i].
func readInt(s string, i int) (int64, int, bool) {
	j := i
	if j < len(s) && s[j] == '-' {
		j++
	}
	digits := j
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j == digits || (s[digits] == '0' && j > digits+1) {
		return 0, i, false
	}
	n, err := strconv.ParseInt(s[i:j], 10, 64)
	if err != nil {
		return 0, i, false
	}
	return n, j, true
}
