package sqlstore

import (
	"strings"
	"testing"
)

// TestIdentityIndexValue (issue 19.8): names that differ only by format
// characters or compatibility forms make one identity, and a name that is
// already NFKC without format characters keeps the value the index had
// before normalisation (existing rows need no re-indexing).
func TestIdentityIndexValue(t *testing.T) {
	legacy := func(first, last, dob string) string {
		return strings.ToLower(first) + "\x00" + strings.ToLower(last) + "\x00" + dob
	}
	same := [][2]string{
		{"John", "Jo\u200bhn"}, {"John", "\ufeffJohn"}, {"John", "J\u200eo\u200fhn"},
		{"John", "John\U000e0041\U000e0042"}, {"John", "Ｊｏｈｎ"}, {"José", "Jose\u0301"}, {"Ǆemal", "Džemal"},
	}
	for _, p := range same {
		if a, b := identityIndexValue(p[0], "S", "1985-03-15"), identityIndexValue(p[1], "S", "1985-03-15"); a != b {
			t.Errorf("%+q and %+q are different identities", p[0], p[1])
		}
	}
	for _, name := range []string{"John", "josé", "O'Brien", "Anne-Marie", "李", "Nguyễn", "ZOË"} {
		if got, want := identityIndexValue(name, "Smith", "1985-03-15"), legacy(name, "Smith", "1985-03-15"); got != want {
			t.Errorf("%q: index value changed (%+q, was %+q): existing rows would need re-indexing", name, got, want)
		}
	}
	if identityIndexValue("Ann", "Lee", "1985-03-15") == identityIndexValue("Ann", "Lee", "1985-03-16") {
		t.Errorf("the birth date is not part of the identity")
	}
}
