package phi

import (
	"encoding/base64"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// ParseKeyringText reads master keys by version. The text is either one
// base64 key (version 1) or lines "v<N>:<base64>" (blank lines and lines
// starting with # ignored). Errors never include key material.
func ParseKeyringText(text string) (map[uint32][]byte, error) {
	keys := map[uint32][]byte{}
	lines := strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' })
	for i, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		version, b64, found := strings.Cut(line, ":")
		if !found {
			if len(lines) > 1 {
				return nil, fmt.Errorf("phi: keyring line %d: want v<N>:<base64>", i+1)
			}
			key, err := ParseKey(line)
			if err != nil {
				return nil, err
			}
			keys[1] = key
			continue
		}
		n, err := strconv.ParseUint(strings.TrimPrefix(version, "v"), 10, 32)
		if err != nil || n == 0 || !strings.HasPrefix(version, "v") {
			return nil, fmt.Errorf("phi: keyring line %d: version must be v1, v2, …", i+1)
		}
		if _, dup := keys[uint32(n)]; dup {
			return nil, fmt.Errorf("phi: keyring line %d: version v%d given twice", i+1, n)
		}
		key, err := ParseKey(b64)
		if err != nil {
			return nil, fmt.Errorf("phi: keyring line %d: %w", i+1, err)
		}
		keys[uint32(n)] = key
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("phi: no master key given")
	}
	return keys, nil
}

// LoadKeyringFile reads a keyring file (see ParseKeyringText).
func LoadKeyringFile(path string) (map[uint32][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("phi: reading key file: %w", err)
	}
	defer clear(data)
	keys, err := ParseKeyringText(string(data))
	if err != nil {
		return nil, fmt.Errorf("phi: key file %s: %w", path, err)
	}
	return keys, nil
}

// FormatKeyringText writes keys as "v<N>:<base64>" lines, oldest first.
func FormatKeyringText(keys map[uint32][]byte) string {
	versions := make([]int, 0, len(keys))
	for v := range keys {
		versions = append(versions, int(v))
	}
	sort.Ints(versions)
	var b strings.Builder
	for _, v := range versions {
		fmt.Fprintf(&b, "v%d:%s\n", v, base64.StdEncoding.EncodeToString(keys[uint32(v)]))
	}
	return b.String()
}

// ReplaceKeyringFile atomically replaces the keyring file at path (mode 0600),
// so that a reader sees the old or the new keyring, never half of one.
func ReplaceKeyringFile(path string, keys map[uint32][]byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(FormatKeyringText(keys)), 0o600); err != nil {
		return fmt.Errorf("phi: writing key file: %w", err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("phi: key file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("phi: replacing key file: %w", err)
	}
	return nil
}
