package httpapi

import (
	"strings"
	"time"
	"unicode/utf8"
)

// appendPatientJSON appends what json.Marshal writes for p (a
// patientJSON), when every string of it is one json.Marshal writes as it
// is (no quote, backslash, control character, <, >, &, U+2028 or U+2029,
// valid UTF-8) and its time has a four-digit year; ok is false otherwise
// and the caller uses json.Marshal. A list of 25 patients spent a sixth of
// its CPU in json.Marshal's reflection; FuzzPatientJSON holds the bytes
// equal to json.Marshal's.
func appendPatientJSON(b []byte, p patientJSON) (_ []byte, ok bool) {
	q := p.Patient
	if q == nil || q.CreatedAt.Year() < 0 || q.CreatedAt.Year() > 9999 {
		return b, false
	}
	w := jsonAppender{b: b, ok: true}
	w.raw(`{"patient_id":`)
	w.str(p.PatientID)
	w.field("id", q.ID)
	w.field("clinic_id", q.ClinicID)
	w.opt("practitioner_id", q.PractitionerID)
	w.field("status", q.Status)
	w.field("first_name", q.FirstName)
	w.opt("middle_name", q.MiddleName)
	w.field("last_name", q.LastName)
	w.field("date_of_birth", q.DateOfBirth)
	w.opt("gender", q.Gender)
	w.field("species", q.Species)
	w.opt("animal_owner_name", q.AnimalOwnerName)
	w.opt("weight", q.Weight)
	w.opt("weight_recorded_date", q.WeightRecordedDate)
	w.opt("height", q.Height)
	w.opt("email", q.Email)
	w.opt("phone", q.Phone)
	w.raw(`,"contacts":`)
	if q.Contacts == nil {
		w.raw("null")
	} else {
		w.raw("[")
		for i, c := range q.Contacts {
			if i > 0 {
				w.raw(",")
			}
			w.raw(`{"key":`)
			w.str(c.Key)
			w.field("value", c.Value)
			w.raw("}")
		}
		w.raw("]")
	}
	w.raw(`,"address":{`)
	a, n := q.Address, len(w.b)
	w.opt("address_line_1", a.Line1)
	w.opt("address_line_2", a.Line2)
	w.opt("address_line_3", a.Line3)
	w.opt("city", a.City)
	w.opt("state", a.State)
	w.opt("zip_code", a.Zip)
	if len(w.b) > n {
		w.b = append(w.b[:n], w.b[n+1:]...) // the first member's comma
	}
	w.raw(`}`)
	w.raw(`,"medication_allergies":`)
	if q.MedicationAllergies == nil {
		w.raw("null")
	} else {
		w.raw("[")
		for i, s := range q.MedicationAllergies {
			if i > 0 {
				w.raw(",")
			}
			w.str(s)
		}
		w.raw("]")
	}
	w.opt("medical_history", q.MedicalHistory)
	if cp := q.ContactPreferences; cp != nil {
		w.raw(`,"preferred_contact_methods":{"email":`)
		w.boolean(cp.Email)
		w.raw(`,"sms":`)
		w.boolean(cp.SMS)
		w.raw(`,"phone":`)
		w.boolean(cp.Phone)
		w.raw("}")
	}
	w.opt("notes", q.Notes)
	w.raw(`,"created_at":"`)
	w.b = q.CreatedAt.AppendFormat(w.b, time.RFC3339Nano)
	w.raw(`"}`)
	return w.b, w.ok
}

// jsonAppender writes JSON as json.Marshal would for plain strings; ok
// turns false at the first string it would escape.
type jsonAppender struct {
	b  []byte
	ok bool
}

func (w *jsonAppender) raw(s string) { w.b = append(w.b, s...) }

func (w *jsonAppender) str(s string) {
	w.ok = w.ok && plainJSON(s)
	w.b = append(w.b, '"')
	w.b = append(w.b, s...)
	w.b = append(w.b, '"')
}

// field writes ,"name":"value".
func (w *jsonAppender) field(name, v string) {
	w.b = append(w.b, ',', '"')
	w.b = append(w.b, name...)
	w.b = append(w.b, '"', ':')
	w.str(v)
}

// opt is field for an omitempty string.
func (w *jsonAppender) opt(name, v string) {
	if v != "" {
		w.field(name, v)
	}
}

func (w *jsonAppender) boolean(v bool) {
	if v {
		w.raw("true")
	} else {
		w.raw("false")
	}
}

// plainJSON reports whether json.Marshal writes s between quotes as it is.
func plainJSON(s string) bool {
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
		ascii = ascii && c < utf8.RuneSelf
	}
	return ascii || utf8.ValidString(s) && !strings.Contains(s, "\u2028") && !strings.Contains(s, "\u2029")
}

// marshalPatients encodes a success envelope holding a patient or a
// page of patients through appendPatientJSON; ok is false when any of
// them (or the message) needs json.Marshal.
func marshalPatients(data any, message string) (_ []byte, ok bool) {
	if message != "" && !plainJSON(message) {
		return nil, false
	}
	b := make([]byte, 0, 1024)
	b = append(b, `{"success":true,"data":`...)
	switch d := data.(type) {
	case patientJSON:
		if b, ok = appendPatientJSON(b, d); !ok {
			return nil, false
		}
	case pageJSON[patientJSON]:
		if d.Items == nil || d.NextCursor != nil && !plainJSON(*d.NextCursor) {
			return nil, false
		}
		b = append(b, `{"items":[`...)
		for i, p := range d.Items {
			if i > 0 {
				b = append(b, ',')
			}
			if b, ok = appendPatientJSON(b, p); !ok {
				return nil, false
			}
		}
		b = append(b, `],"next_cursor":`...)
		if d.NextCursor == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '"')
			b = append(b, *d.NextCursor...)
			b = append(b, '"')
		}
		b = append(b, '}')
	default:
		return nil, false
	}
	if message != "" {
		b = append(b, `,"message":"`...)
		b = append(b, message...)
		b = append(b, '"')
	}
	return append(b, "}\n"...), true
}
