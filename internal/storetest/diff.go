package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/novamed/partner-api/internal/novamed"
)

var (
	timeType  = reflect.TypeFor[time.Time]()
	bytesType = reflect.TypeFor[[]byte]()
)

// equal reports every difference between got and want as a "got, want"
// error naming the field path. Times must be the same instant in the same
// location; nil and empty slices differ (except for []byte).
func equal(t *testing.T, what string, got, want any) bool {
	t.Helper()
	var out []string
	diffValue("", reflect.ValueOf(got), reflect.ValueOf(want), &out)
	for _, d := range out {
		t.Errorf("%s: %s", what, d)
	}
	return len(out) == 0
}

func diffValue(path string, got, want reflect.Value, out *[]string) {
	if !got.IsValid() || !want.IsValid() {
		if got.IsValid() != want.IsValid() {
			*out = append(*out, fmt.Sprintf("%s: got %s, want %s", orRoot(path), show(got), show(want)))
		}
		return
	}
	if got.Type() != want.Type() {
		*out = append(*out, fmt.Sprintf("%s: got type %s, want type %s", orRoot(path), got.Type(), want.Type()))
		return
	}
	switch {
	case got.Type() == timeType:
		g, w := got.Interface().(time.Time), want.Interface().(time.Time)
		if !g.Equal(w) || g.Location() != w.Location() {
			*out = append(*out, fmt.Sprintf("%s: got %s, want %s", orRoot(path), show(got), show(want)))
		}
		return
	case got.Type() == bytesType:
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			*out = append(*out, fmt.Sprintf("%s: got %s, want %s", orRoot(path), show(got), show(want)))
		}
		return
	}
	switch got.Kind() {
	case reflect.Pointer, reflect.Interface:
		if got.IsNil() || want.IsNil() {
			if got.IsNil() != want.IsNil() {
				*out = append(*out, fmt.Sprintf("%s: got %s, want %s", orRoot(path), show(got), show(want)))
			}
			return
		}
		diffValue(path, got.Elem(), want.Elem(), out)
	case reflect.Slice:
		if got.IsNil() != want.IsNil() || got.Len() != want.Len() {
			*out = append(*out, fmt.Sprintf("%s: got %s, want %s", orRoot(path), show(got), show(want)))
			return
		}
		for i := range got.Len() {
			diffValue(fmt.Sprintf("%s[%d]", path, i), got.Index(i), want.Index(i), out)
		}
	case reflect.Struct:
		for i := range got.NumField() {
			f := got.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			diffValue(path+"."+f.Name, got.Field(i), want.Field(i), out)
		}
	default:
		if !reflect.DeepEqual(got.Interface(), want.Interface()) {
			*out = append(*out, fmt.Sprintf("%s: got %s, want %s", orRoot(path), show(got), show(want)))
		}
	}
}

func orRoot(path string) string {
	if path == "" {
		return "value"
	}
	return strings.TrimPrefix(path, ".")
}

// show formats a value exactly: strings quoted, times with their location,
// nil and empty slices told apart.
func show(v reflect.Value) string {
	if !v.IsValid() {
		return "<nil>"
	}
	switch {
	case v.Type() == timeType:
		tm := v.Interface().(time.Time)
		return tm.Format(time.RFC3339Nano) + " (" + tm.Location().String() + ")"
	case v.Type() == bytesType:
		return fmt.Sprintf("%q", v.Bytes())
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return "nil"
		}
		return "&" + show(v.Elem())
	case reflect.Slice:
		if v.IsNil() {
			return "nil"
		}
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = show(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case reflect.String:
		return fmt.Sprintf("%q", v.String())
	case reflect.Struct:
		parts := []string{}
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				parts = append(parts, f.Name+":"+show(v.Field(i)))
			}
		}
		return "{" + strings.Join(parts, " ") + "}"
	}
	return fmt.Sprintf("%v", v.Interface())
}

// must stops the subtest if err is not nil.
func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: got error %v, want nil", what, err)
	}
}

// wantCode checks that err carries the domain error code code.
func wantCode(t *testing.T, what string, err error, code string) bool {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got error nil, want code %s", what, code)
		return false
	}
	if got := novamed.ErrorCode(err); got != code {
		t.Errorf("%s: got code %s (error %v), want code %s", what, got, err, code)
		return false
	}
	return true
}

// wantIs checks that err wraps target.
func wantIs(t *testing.T, what string, err, target error) bool {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want one wrapping %q", what, err, target)
		return false
	}
	return true
}
