package sqlstore

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/novamed/partner-api/internal/novamed"
)

// decodePatientDetails decodes a patient's opened details. They were
// written by json.Marshal, so they nearly always have its shape: no
// whitespace, strings without escapes. That shape is read here directly
// (a list of 25 patients spent a seventh of its CPU in json.Unmarshal of
// them); anything else — an escape, a number, a field this code does not
// know, a repeated field — goes to json.Unmarshal, which decides. The
// fuzz test holds the two to the same result.
func decodePatientDetails(b []byte, d *patientDetails) error {
	if (&detailsReader{b: b}).patient(d) {
		return nil
	}
	*d = patientDetails{}
	return json.Unmarshal(b, d)
}

// detailsReader reads JSON in json.Marshal's compact form; every method
// reports false for anything else, leaving the caller to fall back.
type detailsReader struct {
	b    []byte
	i    int
	done bool // the last object read ended with its "}"
}

func (r *detailsReader) lit(s string) bool {
	if len(r.b)-r.i >= len(s) && string(r.b[r.i:r.i+len(s)]) == s {
		r.i += len(s)
		return true
	}
	return false
}

// str reads a string holding no escape and no control character.
func (r *detailsReader) str() (string, bool) {
	v, ok := r.raw()
	return string(v), ok
}

// raw is str's bytes, in place.
func (r *detailsReader) raw() ([]byte, bool) {
	if !r.lit(`"`) {
		return nil, false
	}
	n := bytes.IndexByte(r.b[r.i:], '"')
	if n < 0 {
		return nil, false
	}
	v := r.b[r.i : r.i+n]
	for _, c := range v {
		if c < 0x20 || c == '\\' {
			return nil, false
		}
	}
	if !utf8.Valid(v) {
		return nil, false
	}
	r.i += n + 1
	return v, true
}

// first and next read an object's keys, each leaving the reader at the
// key's value, which the caller reads; a loop the callers write out, not
// a callback, so nothing escapes to the heap:
//
//	for key, ok := r.first(); ok; key, ok = r.next() { … }
//	if !r.done { fall back }
func (r *detailsReader) first() ([]byte, bool) {
	r.done = false
	if !r.lit("{") {
		return nil, false
	}
	if r.lit("}") {
		r.done = true
		return nil, false
	}
	return r.key()
}

func (r *detailsReader) next() ([]byte, bool) {
	r.done = false // a nested object's end is not this one's
	if r.lit("}") {
		r.done = true
		return nil, false
	}
	if !r.lit(",") {
		return nil, false
	}
	return r.key()
}

func (r *detailsReader) key() ([]byte, bool) {
	k, ok := r.raw()
	return k, ok && r.lit(":")
}

// once marks field bit in seen, refusing a second time.
func once(seen *uint32, bit uint32) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

// field reads a string into dst, the first time bit is seen.
func (r *detailsReader) field(dst *string, seen *uint32, bit uint32) bool {
	v, ok := r.str()
	*dst = v
	return ok && once(seen, bit)
}

// strings reads null (nil) or an array of strings (never nil).
func (r *detailsReader) strings() ([]string, bool) {
	if r.lit("null") {
		return nil, true
	}
	if !r.lit("[") {
		return nil, false
	}
	out := []string{}
	if r.lit("]") {
		return out, true
	}
	for {
		s, ok := r.str()
		if !ok {
			return nil, false
		}
		out = append(out, s)
		if r.lit("]") {
			return out, true
		}
		if !r.lit(",") {
			return nil, false
		}
	}
}

func (r *detailsReader) contacts() ([]novamed.Contact, bool) {
	if r.lit("null") {
		return nil, true
	}
	if !r.lit("[") {
		return nil, false
	}
	out := []novamed.Contact{}
	if r.lit("]") {
		return out, true
	}
	for {
		var c novamed.Contact
		var seen uint32
		for key, ok := r.first(); ok; key, ok = r.next() {
			switch string(key) {
			case "key":
				ok = r.field(&c.Key, &seen, 1)
			case "value":
				ok = r.field(&c.Value, &seen, 2)
			default:
				ok = false
			}
			if !ok {
				return nil, false
			}
		}
		if !r.done {
			return nil, false
		}
		out = append(out, c)
		if r.lit("]") {
			return out, true
		}
		if !r.lit(",") {
			return nil, false
		}
	}
}

func (r *detailsReader) address(a *novamed.Address) bool {
	var seen uint32
	for key, ok := r.first(); ok; key, ok = r.next() {
		switch string(key) {
		case "address_line_1":
			ok = r.field(&a.Line1, &seen, 1<<0)
		case "address_line_2":
			ok = r.field(&a.Line2, &seen, 1<<1)
		case "address_line_3":
			ok = r.field(&a.Line3, &seen, 1<<2)
		case "city":
			ok = r.field(&a.City, &seen, 1<<3)
		case "state":
			ok = r.field(&a.State, &seen, 1<<4)
		case "zip_code":
			ok = r.field(&a.Zip, &seen, 1<<5)
		default:
			ok = false
		}
		if !ok {
			return false
		}
	}
	return r.done
}

func (r *detailsReader) preferences(p *novamed.ContactPreferences) bool {
	var seen uint32
	for key, ok := r.first(); ok; key, ok = r.next() {
		var dst *bool
		var bit uint32
		switch string(key) {
		case "email":
			dst, bit = &p.Email, 1<<0
		case "sms":
			dst, bit = &p.SMS, 1<<1
		case "phone":
			dst, bit = &p.Phone, 1<<2
		default:
			return false
		}
		switch {
		case r.lit("true"):
			*dst = true
		case r.lit("false"):
			*dst = false
		default:
			return false
		}
		if !once(&seen, bit) {
			return false
		}
	}
	return r.done
}

func (r *detailsReader) patient(d *patientDetails) bool {
	var seen uint32
	for key, ok := r.first(); ok; key, ok = r.next() {
		switch string(key) {
		case "middle_name":
			ok = r.field(&d.MiddleName, &seen, 1<<0)
		case "gender":
			ok = r.field(&d.Gender, &seen, 1<<1)
		case "species":
			ok = r.field(&d.Species, &seen, 1<<2)
		case "animal_owner_name":
			ok = r.field(&d.AnimalOwnerName, &seen, 1<<3)
		case "weight":
			ok = r.field(&d.Weight, &seen, 1<<4)
		case "weight_recorded_date":
			ok = r.field(&d.WeightRecordedDate, &seen, 1<<5)
		case "height":
			ok = r.field(&d.Height, &seen, 1<<6)
		case "email":
			ok = r.field(&d.Email, &seen, 1<<7)
		case "phone":
			ok = r.field(&d.Phone, &seen, 1<<8)
		case "medical_history":
			ok = r.field(&d.MedicalHistory, &seen, 1<<9)
		case "notes":
			ok = r.field(&d.Notes, &seen, 1<<10)
		case "contacts":
			d.Contacts, ok = r.contacts()
			ok = ok && once(&seen, 1<<11)
		case "medication_allergies":
			d.MedicationAllergies, ok = r.strings()
			ok = ok && once(&seen, 1<<12)
		case "address":
			// Not done lazily: an address object after the first would
			// merge into it under json.Unmarshal.
			ok = once(&seen, 1<<13) && r.address(&d.Address)
		case "preferred_contact_methods":
			ok = once(&seen, 1<<14)
			if ok && !r.lit("null") {
				d.ContactPreferences = &novamed.ContactPreferences{}
				ok = r.preferences(d.ContactPreferences)
			}
		default:
			ok = false
		}
		if !ok {
			return false
		}
	}
	return r.done && r.i == len(r.b)
}
