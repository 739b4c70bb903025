package novamed

import (
	"encoding/base64"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// IsUUID reports whether s is a UUID in canonical 8-4-4-4-12 hex form.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ValidEmail reports whether s is a plain e-mail address (no display name).
func ValidEmail(s string) bool {
	if len(s) > 254 || strings.ContainsAny(s, " <>\"") {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at:], ".")
}

// ValidNPI reports whether s is a National Provider Identifier: ten digits,
// and in strict mode the Luhn check digit computed over the prefix 80840.
func ValidNPI(s string, strict bool) bool {
	if len(s) != 10 || !allDigits(s) {
		return false
	}
	if !strict {
		return true
	}
	sum := 24 // the Luhn contribution of the constant prefix 80840
	for i := 8; i >= 0; i-- {
		d := int(s[i] - '0')
		if (8-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return (10-sum%10)%10 == int(s[9]-'0')
}

// ValidDEA reports whether s is a DEA registration number: two letters and
// seven digits whose last is the check digit.
func ValidDEA(s string) bool {
	if len(s) != 9 {
		return false
	}
	for i := 0; i < 2; i++ {
		c := s[i]
		if !(('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || (i == 1 && c == '9')) {
			return false
		}
	}
	d := s[2:]
	if !allDigits(d) {
		return false
	}
	n := func(i int) int { return int(d[i] - '0') }
	sum := n(0) + n(2) + n(4) + 2*(n(1)+n(3)+n(5))
	return sum%10 == n(6)
}

// NormalizePhone validates a phone number. Basic mode (development) accepts
// 7 to 15 digits with common punctuation; strict mode (production) requires a
// 10-digit US number (an optional leading country code 1 is dropped) with
// valid area and exchange codes, and returns it as ten digits.
func NormalizePhone(s string, strict bool) (string, bool) {
	var digits strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case strings.ContainsRune(" +-().", r):
		default:
			return "", false
		}
	}
	d := digits.String()
	if !strict {
		return s, len(d) >= 7 && len(d) <= 15
	}
	if len(d) == 11 && d[0] == '1' {
		d = d[1:]
	}
	if len(d) != 10 || d[0] < '2' || d[3] < '2' {
		return "", false
	}
	return d, true
}

var usStates = map[string]string{
	"AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
	"CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
	"FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
	"IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
	"ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
	"MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
	"NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
	"NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon",
	"PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota",
	"TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia",
	"WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
	"PR": "Puerto Rico", "GU": "Guam", "VI": "U.S. Virgin Islands", "AS": "American Samoa",
	"MP": "Northern Mariana Islands",
}

// StateName returns the full name of a US state or territory code.
func StateName(code string) (string, bool) {
	n, ok := usStates[strings.ToUpper(code)]
	return n, ok
}

// NormalizeState accepts a two-letter code or a full state name and returns the code.
func NormalizeState(s string) (string, bool) {
	if _, ok := usStates[strings.ToUpper(s)]; ok && len(s) == 2 {
		return strings.ToUpper(s), true
	}
	for code, name := range usStates {
		if strings.EqualFold(name, s) {
			return code, true
		}
	}
	return "", false
}

// ValidZip reports whether s is a US ZIP code (12345 or 12345-6789).
func ValidZip(s string) bool {
	switch len(s) {
	case 5:
		return allDigits(s)
	case 10:
		return allDigits(s[:5]) && s[5] == '-' && allDigits(s[6:])
	}
	return false
}

// ParseDate accepts YYYY-MM-DD or an RFC 3339 timestamp and returns the
// calendar date as YYYY-MM-DD.
func ParseDate(s string) (time.Time, bool) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		y, m, d := t.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), true
	}
	return time.Time{}, false
}

// ValidBase64Image reports whether s is base64 (optionally a data: URL) of a
// plausible image, at most maxBytes decoded.
func ValidBase64Image(s string, maxBytes int) bool {
	if i := strings.Index(s, ";base64,"); strings.HasPrefix(s, "data:image/") && i > 0 {
		s = s[i+len(";base64,"):]
	}
	if base64.StdEncoding.DecodedLen(len(s)) > maxBytes {
		return false
	}
	_, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		_, err = base64.RawStdEncoding.DecodeString(s)
	}
	return err == nil && s != ""
}

func runeLen(s string) int { return utf8.RuneCountInString(s) }
