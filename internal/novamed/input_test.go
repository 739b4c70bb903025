package novamed

import "testing"

// TestDecodeInputRefusesAnythingButOneObject: trailing content of any kind
// is refused (a stray "]" once slipped past), surrounding whitespace is not.
func TestDecodeInputRefusesAnythingButOneObject(t *testing.T) {
	for _, body := range []string{`{}]`, `{}}`, `{} {}`, `{}x`, `{"a":1}]]`, `[]`, `"s"`, ``, `{"a":1,"a":2}`, `{"a":{"b":1,"b":1}}`} {
		if _, err := DecodeInput([]byte(body)); ErrorCode(err) != CodeInvalidJSON {
			t.Errorf("%q: %v, want %s", body, err, CodeInvalidJSON)
		}
	}
	for _, body := range []string{`{}`, " \n{\"a\":[1,{\"b\":2}]}\n ", `{"a":"]"}`} {
		if _, err := DecodeInput([]byte(body)); err != nil {
			t.Errorf("%q: %v", body, err)
		}
	}
}
