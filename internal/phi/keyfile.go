package phi

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ParseKey decodes a master key from standard base64, padded or not, with
// surrounding whitespace ignored. The key must decode to exactly 32 bytes.
// Errors never include the input.
func ParseKey(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, errors.New("phi: key is empty")
	}
	var key []byte
	var err error
	if strings.HasSuffix(text, "=") {
		key, err = base64.StdEncoding.DecodeString(text)
	} else {
		key, err = base64.RawStdEncoding.DecodeString(text)
	}
	if err != nil {
		// The decoder's error is not wrapped: it is safe, but says nothing
		// useful beyond this.
		return nil, errors.New("phi: key is not valid base64")
	}
	if len(key) != keySize {
		n := len(key)
		clear(key)
		return nil, fmt.Errorf("phi: key decodes to %d bytes, want %d", n, keySize)
	}
	return key, nil
}

// LoadKeyFile reads a master key written by WriteKeyFile (or any file holding
// the base64 form accepted by ParseKey). Errors name the path but never
// include the file's contents.
func LoadKeyFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("phi: reading key file: %w", err)
	}
	defer clear(data)
	key, err := ParseKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("phi: key file %s: %w", path, err)
	}
	return key, nil
}

// WriteKeyFile writes key, which must be 32 bytes, to a new file at path as
// standard base64 followed by a newline. The file is created with mode 0600;
// WriteKeyFile fails if the file already exists, so a key is never
// overwritten.
func WriteKeyFile(path string, key []byte) (err error) {
	if len(key) != keySize {
		return fmt.Errorf("phi: key is %d bytes, want %d", len(key), keySize)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("phi: creating key file: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("phi: writing key file %s: %w", path, cerr)
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	// The umask can only clear permission bits, but make the mode explicit.
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("phi: key file %s: %w", path, err)
	}
	text := base64.StdEncoding.AppendEncode(nil, key)
	text = append(text, '\n')
	defer clear(text)
	if _, err := f.Write(text); err != nil {
		return fmt.Errorf("phi: writing key file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("phi: writing key file %s: %w", path, err)
	}
	return nil
}
