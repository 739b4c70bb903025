package phi

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyringText(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	single := base64.StdEncoding.EncodeToString(k1)
	got, err := ParseKeyringText(single + "\n")
	if err != nil || len(got) != 1 || !bytes.Equal(got[1], k1) {
		t.Fatalf("single key: %v %v", got, err)
	}
	text := FormatKeyringText(map[uint32][]byte{2: k2, 1: k1})
	if !strings.HasPrefix(text, "v1:") || !strings.Contains(text, "\nv2:") {
		t.Fatalf("format = %q", text)
	}
	got, err = ParseKeyringText("# rotated\n" + text)
	if err != nil || !bytes.Equal(got[1], k1) || !bytes.Equal(got[2], k2) {
		t.Fatalf("round trip: %v %v", got, err)
	}
	for _, bad := range []string{"", "v0:" + single, "x1:" + single, "v1:" + single + "\nv1:" + single, "v1:short", single + "\n" + single} {
		if _, err := ParseKeyringText(bad); err == nil {
			t.Errorf("ParseKeyringText(%q) accepted", bad)
		} else if strings.Contains(err.Error(), single) {
			t.Errorf("error leaks key material: %v", err)
		}
	}
	path := filepath.Join(t.TempDir(), "keys")
	if err := ReplaceKeyringFile(path, map[uint32][]byte{1: k1, 2: k2}); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	got, err = LoadKeyringFile(path)
	if err != nil || len(got) != 2 {
		t.Fatalf("load: %v %v", got, err)
	}
}
