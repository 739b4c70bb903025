package novamed

import (
	"strings"
	"time"
	"unicode"
)

// ReadClinicID reads the clinic of a request body under its documented names
// (clinic_id and assigned_clinic; when both are sent they must agree). A
// missing clinic is a field problem; a malformed one is the contract's
// INVALID_CLINIC_ID error.
func ReadClinicID(in *Input) (string, error) {
	id := in.String(64, false, "clinic_id", "assigned_clinic")
	if err := in.Err(); err != nil {
		return "", err
	}
	if id == "" {
		in.Add("clinic_id", "clinic_id is required.")
		return "", in.Err()
	}
	if !IsUUID(id) {
		return "", &Error{Code: CodeInvalidClinicID, Message: MsgInvalidClinicID}
	}
	return strings.ToLower(id), nil
}

// requireName reads a required name of at least minLen characters.
func requireName(in *Input, minLen int, names ...string) string {
	s := readName(in, 100, names...)
	if s == "" && !in.hasErrorFor(names[0]) {
		in.Add(names[0], "%s is required.", names[0])
	} else if s != "" && runeLen(s) < minLen {
		in.Add(names[0], "%s must be at least %d characters.", names[0], minLen)
	}
	return s
}

// readName reads an optional name: text without control or format
// characters (Unicode Cc, Cf, Zl, Zp). Invisible characters such as a
// zero-width space, a direction mark, a byte order mark or a tag character
// would make a second record for the same person that no one can tell
// apart on screen (issue 19.8).
func readName(in *Input, maxLen int, names ...string) string {
	s := in.String(maxLen, false, names...)
	if strings.ContainsFunc(s, invisibleInName) {
		in.Add(names[0], "%s must not contain invisible, formatting or line-breaking characters (such as a zero-width space or a direction mark).", names[0])
		return ""
	}
	return s
}

// invisibleInName reports whether r may not appear in a name.
func invisibleInName(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
}

func (in *Input) hasErrorFor(field string) bool {
	for _, e := range in.Errors {
		if e.Field == field {
			return true
		}
	}
	return false
}

func readDate(in *Input, names ...string) string {
	s := in.String(40, false, names...)
	if s == "" {
		return ""
	}
	t, ok := ParseDate(s)
	if !ok {
		in.Add(names[0], "%s must be a date (YYYY-MM-DD).", names[0])
		return ""
	}
	return t.Format(time.DateOnly)
}

func readEmail(in *Input, required bool, names ...string) string {
	s := in.String(254, false, names...)
	switch {
	case s == "" && required && !in.hasErrorFor(names[0]):
		in.Add(names[0], "%s is required.", names[0])
	case s != "" && !ValidEmail(s):
		in.Add(names[0], "%s must be a valid email address.", names[0])
		return ""
	}
	return s
}

func readPhone(in *Input, strict bool, names ...string) string {
	s := in.String(32, false, names...)
	if s == "" {
		return ""
	}
	p, ok := NormalizePhone(s, strict)
	if !ok {
		if strict {
			in.Add(names[0], "%s must be a 10-digit US phone number.", names[0])
		} else {
			in.Add(names[0], "%s must be a phone number.", names[0])
		}
		return ""
	}
	return p
}

func readState(in *Input, names ...string) string {
	s := in.String(40, false, names...)
	if s == "" {
		return ""
	}
	code, ok := NormalizeState(s)
	if !ok {
		in.Add(names[0], "%s must be a US state code.", names[0])
	}
	return code
}

func readZip(in *Input, names ...string) string {
	s := in.String(10, false, names...)
	if s != "" && !ValidZip(s) {
		in.Add(names[0], "%s must be a US ZIP code.", names[0])
		return ""
	}
	return s
}

// ParsePractitioner validates a create-practitioner body. strict selects the
// production rules (NPI and DEA check digits, 10-digit US phones).
func ParsePractitioner(in *Input, strict bool) *Practitioner {
	p := &Practitioner{Status: PractitionerPending}
	p.FirstName = requireName(in, 2, "first_name")
	p.LastName = requireName(in, 2, "last_name")
	p.Email = readEmail(in, true, "email")
	p.NPI = in.String(20, false, "npi", "npi_number")
	switch {
	case p.NPI == "" && !in.hasErrorFor("npi") && !in.hasErrorFor("npi_number"):
		in.Add("npi", "npi is required.")
	case p.NPI != "" && !ValidNPI(p.NPI, false):
		in.Add("npi", "npi must be exactly 10 digits.")
	case p.NPI != "" && strict && !ValidNPI(p.NPI, true):
		in.Add("npi", "npi is not a valid NPI (check digit mismatch).")
	}
	p.IsVeterinarian, _ = in.Bool("is_veterinarian")
	p.Phone = readPhone(in, strict, "phone")
	p.Credentials = in.String(100, false, "credentials")
	p.Specialty = in.String(100, false, "specialty")
	p.LicenseNumber = in.String(50, false, "license_number")
	p.LicenseState = readState(in, "license_state")
	p.LicenseExpiration = readDate(in, "license_expiration")
	p.DEANumber = in.String(20, false, "dea_number")
	if p.DEANumber != "" && strict && !ValidDEA(p.DEANumber) {
		in.Add("dea_number", "dea_number is not a valid DEA number.")
	}
	p.DEAExpiration = readDate(in, "dea_expiration")
	if sig := in.String(700_000, false, "signature_image"); sig != "" {
		if !ValidBase64Image(sig, 512*1024) {
			in.Add("signature_image", "signature_image must be a base64-encoded image of at most 512 KiB.")
		} else {
			p.SignatureImage = sig
		}
	}
	p.Address = ReadAddress(in, "state_code", "zip_code")
	return p
}
