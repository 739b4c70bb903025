package novamed

import (
	"encoding/json"
	"strings"
	"time"
)

// MergePatch applies an RFC 7396 JSON merge patch to target: a patch
// object's members replace, are merged into (objects), or with null
// remove the target's; anything else replaces target whole.
func MergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = MergePatch(t[k], v)
	}
	return t
}

// addressAliases maps every accepted spelling of an address member to the
// one the records are shown with.
var addressAliases = map[string]string{
	"line1": "address_line_1", "addressLine1": "address_line_1", "address_line1": "address_line_1", "address_line_1": "address_line_1",
	"line2": "address_line_2", "addressLine2": "address_line_2", "address_line2": "address_line_2", "address_line_2": "address_line_2",
	"line3": "address_line_3", "addressLine3": "address_line_3", "address_line3": "address_line_3", "address_line_3": "address_line_3",
	"city": "city", "state": "state", "state_code": "state",
	"zip": "zip_code", "zip_code": "zip_code", "postalCode": "zip_code",
}

// flatAddressFields are the top-level address fields of the flat shape.
var flatAddressFields = []string{"address_line1", "address_line_1", "address_line2", "address_line_2", "city", "state", "state_code", "zip", "zip_code"}

// canonicalAddress renames an address patch's members to the shown
// spellings; members it does not know pass unchanged (and are reported as
// ignored when the merged record is read).
func canonicalAddress(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if c, ok := addressAliases[k]; ok {
			k = c
		}
		out[k] = v
	}
	return out
}

// canonicalPatch rewrites a patch in the spellings of the shown record,
// so that merging it cannot leave two spellings of one field that
// disagree: aliases become the shown names, and an address sent in any of
// the documented shapes becomes a patch of "address" (the flat fields and
// an address object merge into the stored address; an addresses array of
// one replaces it).
func canonicalPatch(patch map[string]any, aliases map[string]string) map[string]any {
	out := make(map[string]any, len(patch))
	var addr map[string]any
	replaceAddr := false
	for k, v := range patch {
		switch {
		case k == "address":
			if m, ok := v.(map[string]any); ok {
				addr = mergeInto(addr, canonicalAddress(m))
			} else {
				out[k] = v // null clears it; anything else is refused when read
			}
		case k == "addresses":
			if list, ok := v.([]any); ok && len(list) == 1 {
				if m, ok := list[0].(map[string]any); ok {
					addr, replaceAddr = mergeInto(addr, canonicalAddress(m)), true
					continue
				}
			}
			out[k] = v
		case isFlatAddressField(k):
			addr = mergeInto(addr, map[string]any{addressAliases[k]: v})
		default:
			if c, ok := aliases[k]; ok {
				k = c
			}
			out[k] = v
		}
	}
	if addr != nil {
		out["address"] = addr
		if replaceAddr {
			out["\x00replace-address"] = true
		}
	}
	return out
}

func isFlatAddressField(k string) bool {
	for _, f := range flatAddressFields {
		if f == k {
			return true
		}
	}
	return false
}

func mergeInto(dst, src map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, v := range src {
		dst[k] = v
	}
	return dst
}

// patchRecord merges a partner's patch body into the shown form of a
// stored record (record, without the fields a partner cannot change) and
// returns the merged body as an Input to parse with the create rules, and
// the patch itself (whose Errors hold a body that is not one object).
// clinic is the record's clinic: a patch may repeat it but not change it.
func patchRecord(record any, body []byte, clinic string, readOnly []string, aliases map[string]string) (*Input, error) {
	if _, err := DecodeInput(body); err != nil { // one object, UTF-8, no repeated keys
		return nil, err
	}
	var patch map[string]any
	if err := json.Unmarshal(body, &patch); err != nil {
		return nil, &Error{Code: CodeInvalidJSON, Message: "Request body must be a JSON object."}
	}
	var problems []FieldError
	for _, f := range []string{"clinic_id", "assigned_clinic"} {
		if v, ok := patch[f]; ok {
			if s, _ := v.(string); !strings.EqualFold(strings.TrimSpace(s), clinic) {
				problems = append(problems, FieldError{Field: f, Message: f + " cannot be changed; a record stays in its clinic."})
			}
			delete(patch, f)
		}
	}
	for _, f := range readOnly {
		if _, ok := patch[f]; ok {
			problems = append(problems, FieldError{Field: f, Message: f + " is set by NovaMed and cannot be changed."})
		}
	}
	if len(problems) > 0 {
		return nil, ValidationError(problems)
	}
	raw, err := json.Marshal(record)
	if err != nil {
		return nil, err
	}
	var base map[string]any
	if err := json.Unmarshal(raw, &base); err != nil {
		return nil, err
	}
	for _, f := range append([]string{"id", "clinic_id", "created_at"}, readOnly...) {
		delete(base, f)
	}
	if a, ok := base["address"].(map[string]any); ok && len(a) == 0 {
		delete(base, "address")
	}
	patch = canonicalPatch(patch, aliases)
	if patch["\x00replace-address"] == true {
		delete(patch, "\x00replace-address")
		delete(base, "address")
	}
	merged, err := json.Marshal(MergePatch(base, patch))
	if err != nil {
		return nil, err
	}
	return DecodeInput(merged)
}

// patientAliases are the patient fields with another accepted spelling.
var patientAliases = map[string]string{"dob": "date_of_birth"}

// PatchPatient applies a merge-patch body to a stored patient and checks
// the result with the create rules (ParsePatient). The returned Input
// holds the problems and the ignored fields; the patient keeps its id,
// clinic and creation time.
func PatchPatient(stored *Patient, body []byte, strict bool, now time.Time) (*Patient, *Input, error) {
	base := *stored
	var patch map[string]any
	if json.Unmarshal(body, &patch) == nil {
		// email and phone are also read from contacts: new contacts
		// without a new email or phone re-derive them.
		if _, ok := patch["contacts"]; ok {
			if _, ok := patch["email"]; !ok {
				base.Email = ""
			}
			if _, ok := patch["phone"]; !ok {
				base.Phone = ""
			}
		}
	}
	in, err := patchRecord(&base, body, stored.ClinicID, nil, patientAliases)
	if err != nil {
		return nil, nil, err
	}
	p := ParsePatient(in, strict, now)
	p.ID, p.ClinicID, p.CreatedAt = stored.ID, stored.ClinicID, stored.CreatedAt
	return p, in, nil
}

// practitionerAliases are the practitioner fields with another accepted spelling.
var practitionerAliases = map[string]string{"npi_number": "npi"}

// PatchPractitioner applies a merge-patch body to a stored practitioner
// and checks the result with the create rules (ParsePractitioner); its
// status is NovaMed's and cannot be patched.
func PatchPractitioner(stored *Practitioner, body []byte, strict bool) (*Practitioner, *Input, error) {
	in, err := patchRecord(stored, body, stored.ClinicID, []string{"status"}, practitionerAliases)
	if err != nil {
		return nil, nil, err
	}
	p := ParsePractitioner(in, strict)
	p.ID, p.ClinicID, p.CreatedAt, p.Status = stored.ID, stored.ClinicID, stored.CreatedAt, stored.Status
	return p, in, nil
}
