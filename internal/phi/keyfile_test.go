package phi

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestParseKeyAccepts(t *testing.T) {
	key := testKey(42)
	for _, text := range []string{
		base64.StdEncoding.EncodeToString(key),
		base64.RawStdEncoding.EncodeToString(key),
		"  " + base64.StdEncoding.EncodeToString(key) + "\n",
		"\t" + base64.RawStdEncoding.EncodeToString(key) + "\r\n",
	} {
		got, err := ParseKey(text)
		if err != nil {
			t.Errorf("ParseKey(%q): %v", text, err)
			continue
		}
		if want := key; !bytes.Equal(got, want) {
			t.Errorf("ParseKey(%q) = %x, want %x", text, got, want)
		}
	}
}

func TestParseKeyRejects(t *testing.T) {
	key := testKey(42)
	for _, text := range []string{
		"",
		"   \n",
		base64.StdEncoding.EncodeToString(key[:31]),
		base64.RawStdEncoding.EncodeToString(key[:31]),
		base64.StdEncoding.EncodeToString(append(key, 1)),
		base64.StdEncoding.EncodeToString(key[:16]),
		"not a key at all, just some secret-looking text",
		"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA!!",
		base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)),
		base64.StdEncoding.EncodeToString(key)[:40] + " " + base64.StdEncoding.EncodeToString(key)[40:],
		base64.StdEncoding.EncodeToString(key) + base64.StdEncoding.EncodeToString(key),
	} {
		got, err := ParseKey(text)
		if err == nil {
			t.Errorf("ParseKey(%q) = %x, nil; want error", text, got)
			continue
		}
		if got != nil {
			t.Errorf("ParseKey(%q) returned %x with error", text, got)
		}
		msg := err.Error()
		if trimmed := strings.TrimSpace(text); trimmed != "" && strings.Contains(msg, trimmed) {
			t.Errorf("ParseKey error %q contains the input", msg)
		}
		if len(text) >= 8 && strings.Contains(msg, strings.TrimSpace(text)[:8]) {
			t.Errorf("ParseKey error %q contains part of the input %q", msg, text)
		}
	}
}

func TestWriteLoadKeyFile(t *testing.T) {
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "phi-v1.key")
	if err := WriteKeyFile(path, key); err != nil {
		t.Fatalf("WriteKeyFile: %v", err)
	}

	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if got, want := info.Mode().Perm(), fs.FileMode(0o600); got != want {
			t.Errorf("key file mode = %v, want %v", got, want)
		}
	}
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(content), base64.StdEncoding.EncodeToString(key)+"\n"; got != want {
		t.Errorf("key file content = %q, want %q", got, want)
	}

	got, err := LoadKeyFile(path)
	if err != nil {
		t.Fatalf("LoadKeyFile: %v", err)
	}
	if want := key; !bytes.Equal(got, want) {
		t.Errorf("LoadKeyFile = %x, want %x", got, want)
	}
}

func TestWriteKeyFileRefusesOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "phi.key")
	if err := os.WriteFile(path, []byte("existing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := WriteKeyFile(path, testKey(1))
	if err == nil {
		t.Fatal("WriteKeyFile over an existing file succeeded, want error")
	}
	if !errors.Is(err, fs.ErrExist) {
		t.Errorf("WriteKeyFile error = %v, want %v", err, fs.ErrExist)
	}
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(content), "existing\n"; got != want {
		t.Errorf("existing file content = %q, want %q", got, want)
	}
}

func TestWriteKeyFileRejectsBadKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "phi.key")
	if err := WriteKeyFile(path, testKey(1)[:16]); err == nil {
		t.Fatal("WriteKeyFile(16-byte key) succeeded, want error")
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat after rejected write = %v, want %v", err, fs.ErrNotExist)
	}
}

func TestLoadKeyFileErrors(t *testing.T) {
	dir := t.TempDir()

	missing := filepath.Join(dir, "missing.key")
	if _, err := LoadKeyFile(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadKeyFile(missing) = %v, want %v", err, fs.ErrNotExist)
	}

	const secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQ" // valid base64, wrong length
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadKeyFile(bad)
	if err == nil {
		t.Fatal("LoadKeyFile(bad) succeeded, want error")
	}
	if msg := err.Error(); !strings.Contains(msg, bad) {
		t.Errorf("LoadKeyFile error %q does not mention the path %q", msg, bad)
	}
	if msg := err.Error(); strings.Contains(msg, secret[:8]) {
		t.Errorf("LoadKeyFile error %q contains the file contents", msg)
	}
}
