package novamed

import (
	"strings"
	"time"
)

// Patient enumerations of the contract.
var (
	Genders  = []string{"male", "female", "other", "unknown"}
	Species  = []string{"human", "canine", "feline", "equine", "avian", "mammal - other", "reptilian", "swine"}
	Statuses = []string{"active", "inactive"}
	// ContactKeys are the kinds of the contacts array.
	ContactKeys = []string{"email", "phone", "url", "sms", "fax"}
)

func oneOf(in *Input, allowed []string, name string) string {
	s := strings.ToLower(in.String(40, false, name))
	if s == "" {
		return ""
	}
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	in.Add(name, "%s must be one of: %s.", name, strings.Join(allowed, ", "))
	return ""
}

// ParsePatient validates a create-patient body at time now. strict selects
// the production rules (10-digit US phones).
func ParsePatient(in *Input, strict bool, now time.Time) *Patient {
	p := &Patient{}
	p.FirstName = requireName(in, 2, "first_name")
	p.LastName = requireName(in, 1, "last_name")
	p.MiddleName = readName(in, 100, "middle_name")

	dobName := "date_of_birth"
	if in.Has("dob") && !in.Has("date_of_birth") {
		dobName = "dob"
	}
	dob := in.String(40, false, "dob", "date_of_birth")
	switch t, ok := ParseDate(dob); {
	case dob == "" && !in.hasErrorFor("dob") && !in.hasErrorFor(dobName):
		in.Add(dobName, "%s is required.", dobName)
	case dob == "":
	case !ok:
		in.Add(dobName, "%s must be a date (YYYY-MM-DD or RFC 3339).", dobName)
	case t.After(now):
		in.Add(dobName, "%s must not be in the future.", dobName)
	case t.Year() < 1900:
		in.Add(dobName, "%s must not be before 1900.", dobName)
	default:
		p.DateOfBirth = t.Format(time.DateOnly)
	}

	p.Gender = oneOf(in, Genders, "gender")
	p.Species = oneOf(in, Species, "species")
	if p.Species == "" {
		p.Species = "human"
	}
	p.AnimalOwnerName = readName(in, 200, "animal_owner_name")
	if p.Species != "human" && p.AnimalOwnerName == "" && !in.hasErrorFor("species") {
		in.Add("animal_owner_name", "animal_owner_name is required when species is not human.")
	}
	p.Weight = in.Number("weight")
	p.WeightRecordedDate = readDate(in, "weight_recorded_date")
	p.Height = in.Number("height")
	p.Status = oneOf(in, Statuses, "status")
	if p.Status == "" {
		p.Status = "active"
	}
	p.PractitionerID = in.String(64, false, "practitioner_id")
	if p.PractitionerID != "" && !IsUUID(p.PractitionerID) {
		in.Add("practitioner_id", "practitioner_id must be a valid UUID.")
	}
	p.PractitionerID = strings.ToLower(p.PractitionerID)
	p.MedicationAllergies = in.Strings(100, 200, "medication_allergies")
	if p.MedicationAllergies == nil {
		p.MedicationAllergies = []string{}
	}
	p.MedicalHistory = in.StringOrStrings(10_000, "medical_history")
	p.Notes = in.String(10_000, true, "notes")
	if prefs, ok := in.Object("preferred_contact_methods"); ok {
		c := &ContactPreferences{}
		c.Email, _ = prefs.Bool("email")
		c.SMS, _ = prefs.Bool("sms")
		c.Phone, _ = prefs.Bool("phone")
		in.Nested("preferred_contact_methods", prefs)
		p.ContactPreferences = c
	}
	parseContacts(in, p, strict)
	parseAddress(in, p)
	return p
}

func parseContacts(in *Input, p *Patient, strict bool) {
	p.Email = readEmail(in, false, "email")
	p.Phone = readPhone(in, strict, "phone")
	p.Contacts = []Contact{}
	for i, c := range in.Objects("contacts", 20) {
		field := "contacts[" + itoa(i) + "]"
		key := oneOf(c, ContactKeys, "key")
		var value string
		switch key {
		case "email":
			value = readEmail(c, true, "value")
		case "phone", "sms", "fax":
			value = readPhone(c, strict, "value")
		default:
			value = c.String(500, false, "value")
		}
		if value == "" && !c.hasErrorFor("value") && key != "" {
			c.Add("value", "value is required.")
		}
		in.Nested(field, c)
		if key == "" || value == "" {
			continue
		}
		p.Contacts = append(p.Contacts, Contact{Key: key, Value: value})
		if key == "email" && p.Email == "" {
			p.Email = value
		}
		if key == "phone" && p.Phone == "" {
			p.Phone = value
		}
	}
}

func parseAddress(in *Input, p *Patient) { p.Address = ReadAddress(in, "state", "zip") }

// ReadAddress reads an address sent in exactly one of the documented shapes:
// an addresses array of one, a nested address object, or flat fields (with
// stateField and zipField naming the flat state and ZIP spellings tried
// first). Two shapes at once are refused rather than silently merged.
func ReadAddress(in *Input, stateField, zipField string) Address {
	var a Address
	shapes := 0
	if in.Has("addresses") {
		shapes++
		list := in.Objects("addresses", 1)
		if len(list) == 1 {
			a = ParseAddressObject(list[0])
			in.Nested("addresses[0]", list[0])
		}
	}
	if in.Has("address") {
		shapes++
		if obj, ok := in.Object("address"); ok {
			a = ParseAddressObject(obj)
			in.Nested("address", obj)
		}
	}
	if in.Has("address_line1", "address_line_1", "address_line2", "address_line_2", "city", "state", "state_code", "zip", "zip_code") {
		shapes++
		a = Address{
			Line1: in.String(200, false, "address_line1", "address_line_1"),
			Line2: in.String(200, false, "address_line2", "address_line_2"),
			City:  in.String(100, false, "city"),
			State: readState(in, stateField, otherOf(stateField, "state", "state_code")),
			Zip:   readZip(in, zipField, otherOf(zipField, "zip", "zip_code")),
		}
	}
	if shapes > 1 {
		in.Add("address", "Send the address in one shape only: addresses, address, or the flat address fields.")
	}
	return a
}

// otherOf returns the one of a and b that is not first.
func otherOf(first, a, b string) string {
	if first == a {
		return b
	}
	return a
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// ParseAddressObject reads an address object in any of the documented
// spellings (line1/addressLine1/address_line_1, zip/zip_code/postalCode, …).
func ParseAddressObject(a *Input) Address {
	return Address{
		Line1: a.String(200, false, "line1", "addressLine1", "address_line1", "address_line_1"),
		Line2: a.String(200, false, "line2", "addressLine2", "address_line2", "address_line_2"),
		Line3: a.String(200, false, "addressLine3", "line3", "address_line_3", "address_line3"),
		City:  a.String(100, false, "city"),
		State: readState(a, "state", "state_code"),
		Zip:   readZip(a, "zip", "zip_code", "postalCode"),
	}
}
