package novamed

import (
	"strings"
	"testing"
)

// invisibles are the characters the outside black-box test (issue 19.8)
// used to register one person twice: each is invisible or breaks a line.
var invisibles = map[string]string{
	"zero-width space":       "\u200b",
	"zero-width joiner":      "\u200d",
	"left-to-right mark":     "\u200e",
	"right-to-left mark":     "\u200f",
	"byte order mark":        "\ufeff",
	"tag latin small e":      "\U000e0065",
	"line separator":         "\u2028",
	"paragraph separator":    "\u2029",
	"soft hyphen":            "\u00ad",
	"word joiner":            "\u2060",
	"C1 control (NEL)":       "\u0085",
	"right-to-left override": "\u202e",
}

// TestNamesRefuseInvisibleCharacters (issue 19.8): a name field holding a
// control or format character (Cc, Cf, Zl, Zp) is a validation error naming
// the field, for patients and practitioners.
func TestNamesRefuseInvisibleCharacters(t *testing.T) {
	for what, ch := range invisibles {
		for _, field := range []string{"first_name", "last_name", "middle_name", "animal_owner_name"} {
			body := map[string]string{"first_name": "John", "last_name": "Smith", "dob": "1985-03-15", "species": "canine", "animal_owner_name": "Olivia"}
			body[field] = "Jo" + ch + "hn"
			in := mustDecode(t, body)
			ParsePatient(in, false, fuzzNow)
			if !refused(in, field) {
				t.Errorf("patient %s with a %s: accepted (errors %v)", field, what, in.Errors)
			}
		}
		for _, field := range []string{"first_name", "last_name"} {
			body := map[string]string{"first_name": "Sarah", "last_name": "Johnson", "email": "s@clinic.test", "npi": "1234567890"}
			body[field] = body[field][:2] + ch + body[field][2:] // inside: white space at the ends is trimmed
			in := mustDecode(t, body)
			ParsePractitioner(in, false)
			if !refused(in, field) {
				t.Errorf("practitioner %s with a %s: accepted (errors %v)", field, what, in.Errors)
			}
		}
	}
	// Letters from any script, accents, apostrophes, hyphens and spaces stay.
	for _, name := range []string{"José", "Zoë", "O'Brien", "Anne-Marie", "Mary Ann", "李", "Ｊｏｈｎ", "Nguyễn"} {
		in := mustDecode(t, map[string]string{"first_name": name + "x", "last_name": name, "dob": "1985-03-15"})
		ParsePatient(in, false, fuzzNow)
		if err := in.Err(); err != nil {
			t.Errorf("name %q refused: %v", name, err)
		}
	}
}

func mustDecode(t *testing.T, body map[string]string) *Input {
	t.Helper()
	var b strings.Builder
	b.WriteString("{")
	first := true
	for k, v := range body {
		if !first {
			b.WriteString(",")
		}
		first = false
		b.WriteString(quoteJSON(k) + ":" + quoteJSON(v))
	}
	b.WriteString("}")
	in, err := DecodeInput([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func quoteJSON(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&15])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func refused(in *Input, field string) bool {
	for _, e := range in.Errors {
		if e.Field == field {
			return true
		}
	}
	return false
}
