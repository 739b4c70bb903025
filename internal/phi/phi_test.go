package phi

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// testKey returns a deterministic 32-byte master key derived from seed.
func testKey(seed byte) []byte {
	key := make([]byte, keySize)
	for i := range key {
		key[i] = seed + byte(i)
	}
	return key
}

func mustKeyring(t testing.TB, versions ...uint32) *Keyring {
	t.Helper()
	keys := make(map[uint32][]byte)
	for _, v := range versions {
		keys[v] = testKey(byte(v))
	}
	k, err := NewKeyring(keys)
	if err != nil {
		t.Fatalf("NewKeyring(%v): %v", versions, err)
	}
	return k
}

func mustSeal(t testing.TB, k *Keyring, table, column, rowID string, plaintext []byte) string {
	t.Helper()
	sealed, err := k.Seal(table, column, rowID, plaintext)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return sealed
}

func TestNewKeyringRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys map[uint32][]byte
	}{
		{"nil", nil},
		{"empty", map[uint32][]byte{}},
		{"version 0", map[uint32][]byte{0: testKey(0)}},
		{"short key", map[uint32][]byte{1: testKey(1)[:31]}},
		{"long key", map[uint32][]byte{1: append(testKey(1), 0)}},
		{"one bad among good", map[uint32][]byte{1: testKey(1), 2: nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if k, err := NewKeyring(tc.keys); err == nil {
				t.Errorf("NewKeyring = %v, nil; want error", k)
			}
		})
	}
}

func TestNewKeyringDoesNotRetainKeys(t *testing.T) {
	master := testKey(1)
	k, err := NewKeyring(map[uint32][]byte{1: master})
	if err != nil {
		t.Fatal(err)
	}
	sealed := mustSeal(t, k, "t", "c", "r", []byte("secret"))
	index := k.BlindIndex("p", "v")
	clear(master)
	if _, err := k.Open("t", "c", "r", sealed); err != nil {
		t.Errorf("Open after caller cleared master key: %v", err)
	}
	if got, want := k.BlindIndex("p", "v"), index; got != want {
		t.Errorf("BlindIndex after caller cleared master key = %q, want %q", got, want)
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := mustKeyring(t, 1)
	for _, plaintext := range [][]byte{
		{},
		[]byte("x"),
		[]byte("123-45-6789"),
		bytes.Repeat([]byte{0, 0xff}, 5000),
	} {
		sealed := mustSeal(t, k, "patients", "ssn", "row-1", plaintext)
		if !strings.HasPrefix(sealed, "v1:") {
			t.Errorf("Seal = %q, want prefix %q", sealed, "v1:")
		}
		got, err := k.Open("patients", "ssn", "row-1", sealed)
		if err != nil {
			t.Fatalf("Open(%q): %v", sealed, err)
		}
		if want := plaintext; !bytes.Equal(got, want) {
			t.Errorf("Open = %q, want %q", got, want)
		}
		if got == nil {
			t.Errorf("Open of empty plaintext = nil, want empty non-nil slice")
		}
	}
}

func TestSealIsRandomized(t *testing.T) {
	k := mustKeyring(t, 1)
	a := mustSeal(t, k, "t", "c", "r", []byte("same"))
	b := mustSeal(t, k, "t", "c", "r", []byte("same"))
	if a == b {
		t.Errorf("two Seals of the same plaintext are equal: %q", a)
	}
}

// TestSealFormat checks the documented format and derivation independently of
// the implementation.
func TestSealFormat(t *testing.T) {
	master := testKey(7)
	k, err := NewKeyring(map[uint32][]byte{7: master})
	if err != nil {
		t.Fatal(err)
	}
	plaintext := []byte("hello")
	sealed := mustSeal(t, k, "tab", "col", "row", plaintext)
	payload, ok := strings.CutPrefix(sealed, "v7:")
	if !ok {
		t.Fatalf("Seal = %q, want prefix v7:", sealed)
	}
	raw, err := base64.RawStdEncoding.DecodeString(payload)
	if err != nil {
		t.Fatalf("payload is not raw std base64: %v", err)
	}
	if got, want := len(raw), 12+len(plaintext)+16; got != want {
		t.Fatalf("payload is %d bytes, want %d", got, want)
	}
	aesKey, err := hkdf.Key(sha256.New, master, nil, "novamed phi aes v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(aesKey)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	got, err := gcm.Open(nil, raw[:12], raw[12:], []byte("tab\x00col\x00row\x007"))
	if err != nil {
		t.Fatalf("independent GCM open: %v", err)
	}
	if want := plaintext; !bytes.Equal(got, want) {
		t.Errorf("independent GCM open = %q, want %q", got, want)
	}
}

func TestOpenTampered(t *testing.T) {
	k := mustKeyring(t, 1)
	sealed := mustSeal(t, k, "t", "c", "r", []byte("0123456789abcdef0123456789abcdef"))
	payload := sealed[len("v1:"):]
	raw, err := base64.RawStdEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		flipped := bytes.Clone(raw)
		flipped[i] ^= 0x01
		tampered := "v1:" + base64.RawStdEncoding.EncodeToString(flipped)
		if _, err := k.Open("t", "c", "r", tampered); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open with byte %d flipped: got %v, want %v", i, err, ErrCorrupt)
		}
	}
}

func TestOpenWrongContext(t *testing.T) {
	k := mustKeyring(t, 1)
	sealed := mustSeal(t, k, "patients", "ssn", "row-1", []byte("123-45-6789"))
	for _, tc := range []struct{ name, table, column, rowID string }{
		{"other row", "patients", "ssn", "row-2"},
		{"other column", "patients", "mrn", "row-1"},
		{"other table", "contacts", "ssn", "row-1"},
		{"shifted separator", "patients", "ssn\x00row-1", ""},
		{"empty row", "patients", "ssn", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := k.Open(tc.table, tc.column, tc.rowID, sealed)
			if err == nil {
				t.Fatalf("Open = %q, nil; want error", got)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("Open error = %v, want %v", err, ErrCorrupt)
			}
		})
	}
}

func TestSealRejectsNUL(t *testing.T) {
	k := mustKeyring(t, 1)
	for _, ctx := range [][3]string{{"t\x00", "c", "r"}, {"t", "c\x00", "r"}, {"t", "c", "\x00r"}} {
		if sealed, err := k.Seal(ctx[0], ctx[1], ctx[2], []byte("x")); err == nil {
			t.Errorf("Seal(%q) = %q, nil; want error", ctx, sealed)
		}
	}
}

func TestOpenMalformed(t *testing.T) {
	k := mustKeyring(t, 1)
	valid := mustSeal(t, k, "t", "c", "r", []byte("data"))
	payload := valid[len("v1:"):]
	for _, sealed := range []string{
		"",
		"v1",
		"v1:",
		"v:" + payload,
		"1:" + payload,
		"V1:" + payload,
		"v01:" + payload,
		"v0:" + payload,
		"v-1:" + payload,
		"v+1:" + payload,
		"v 1:" + payload,
		"v99999999999:" + payload,
		"v4294967296:" + payload,
		"v1:" + payload + "=",
		"v1:" + payload + "==",
		"v1:" + payload[:len(payload)-1],
		"v1:" + payload[:10],
		"v1:" + payload[:20] + "\n" + payload[20:],
		"v1:" + payload[:20] + "\r" + payload[20:],
		"v1:-" + payload[1:],
		"v1:" + payload + "x",
		"v1:" + payload + ":",
		" " + valid,
		valid + " ",
	} {
		got, err := k.Open("t", "c", "r", sealed)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("Open(%q) = %q, %v; want %v", sealed, got, err, ErrCorrupt)
		}
	}
}

func TestOpenUnknownVersion(t *testing.T) {
	k1 := mustKeyring(t, 1)
	k2 := mustKeyring(t, 2)
	sealed := mustSeal(t, k2, "t", "c", "r", []byte("x"))
	if _, err := k1.Open("t", "c", "r", sealed); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Errorf("Open = %v, want %v", err, ErrUnknownKeyVersion)
	}
	// Relabeling a ciphertext with another version in the ring fails
	// authentication: the version is part of the associated data, and the key
	// differs.
	k12 := mustKeyring(t, 1, 2)
	relabeled := "v1:" + strings.TrimPrefix(sealed, "v2:")
	if _, err := k12.Open("t", "c", "r", relabeled); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open(relabeled) = %v, want %v", err, ErrCorrupt)
	}
}

func TestSameMasterKeyDifferentVersion(t *testing.T) {
	// The version is bound even when two versions share a master key.
	master := testKey(9)
	k, err := NewKeyring(map[uint32][]byte{1: master, 2: master})
	if err != nil {
		t.Fatal(err)
	}
	sealed := mustSeal(t, k, "t", "c", "r", []byte("x"))
	relabeled := "v1:" + strings.TrimPrefix(sealed, "v2:")
	if _, err := k.Open("t", "c", "r", relabeled); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open(relabeled) = %v, want %v", err, ErrCorrupt)
	}
}

func TestRotation(t *testing.T) {
	old := mustKeyring(t, 1)
	sealedV1 := mustSeal(t, old, "t", "c", "r", []byte("before"))

	ring := mustKeyring(t, 1, 2)
	if got, want := ring.CurrentVersion(), uint32(2); got != want {
		t.Fatalf("CurrentVersion = %d, want %d", got, want)
	}
	got, err := ring.Open("t", "c", "r", sealedV1)
	if err != nil {
		t.Fatalf("Open v1 field with ring{1,2}: %v", err)
	}
	if want := "before"; string(got) != want {
		t.Errorf("Open = %q, want %q", got, want)
	}

	sealedV2 := mustSeal(t, ring, "t", "c", "r", []byte("after"))
	if got, want := mustVersion(t, ring, sealedV2), uint32(2); got != want {
		t.Errorf("VersionOf(new seal) = %d, want %d", got, want)
	}
	if got, want := mustVersion(t, ring, sealedV1), uint32(1); got != want {
		t.Errorf("VersionOf(old seal) = %d, want %d", got, want)
	}

	for _, tc := range []struct {
		sealed string
		want   bool
	}{
		{sealedV1, true},
		{sealedV2, false},
		{"", false},
		{"garbage", false},
	} {
		if got := ring.NeedsRotation(tc.sealed); got != tc.want {
			t.Errorf("NeedsRotation(%q) = %v, want %v", tc.sealed, got, tc.want)
		}
	}
	if got, want := old.NeedsRotation(sealedV1), false; got != want {
		t.Errorf("ring{1}.NeedsRotation(v1 field) = %v, want %v", got, want)
	}

	// Once old fields are re-sealed, version 1 can be retired.
	resealed := mustSeal(t, ring, "t", "c", "r", got)
	onlyV2 := mustKeyring(t, 2)
	if _, err := onlyV2.Open("t", "c", "r", resealed); err != nil {
		t.Errorf("Open re-sealed field with ring{2}: %v", err)
	}
	if _, err := onlyV2.Open("t", "c", "r", sealedV1); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Errorf("Open v1 field with ring{2} = %v, want %v", err, ErrUnknownKeyVersion)
	}
}

func mustVersion(t *testing.T, k *Keyring, sealed string) uint32 {
	t.Helper()
	v, err := k.VersionOf(sealed)
	if err != nil {
		t.Fatalf("VersionOf(%q): %v", sealed, err)
	}
	return v
}

func TestVersionOf(t *testing.T) {
	k := mustKeyring(t, 1)
	for _, tc := range []struct {
		sealed string
		want   uint32
		ok     bool
	}{
		{"v1:AAAA", 1, true},
		{"v4294967295:x", 4294967295, true},
		{"v12:", 12, true},
		{"", 0, false},
		{"v0:AAAA", 0, false},
		{"v4294967296:AAAA", 0, false},
		{"v1AAAA", 0, false},
		{"x1:AAAA", 0, false},
	} {
		got, err := k.VersionOf(tc.sealed)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("VersionOf(%q) = %d, %v; want %d, ok=%v", tc.sealed, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Errorf("VersionOf(%q) error = %v, want %v", tc.sealed, err, ErrCorrupt)
		}
	}
}

func TestSealStringOpenString(t *testing.T) {
	k := mustKeyring(t, 1)
	sealed, err := k.SealString("t", "c", "r", "")
	if err != nil || sealed != "" {
		t.Errorf(`SealString("") = %q, %v; want "", nil`, sealed, err)
	}
	opened, err := k.OpenString("t", "c", "r", "")
	if err != nil || opened != "" {
		t.Errorf(`OpenString("") = %q, %v; want "", nil`, opened, err)
	}

	sealed, err = k.SealString("t", "c", "r", "Jane Doe")
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.OpenString("t", "c", "r", sealed)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Jane Doe"; got != want {
		t.Errorf("OpenString = %q, want %q", got, want)
	}
	if _, err := k.OpenString("t", "c", "other", sealed); !errors.Is(err, ErrCorrupt) {
		t.Errorf("OpenString(other row) = %v, want %v", err, ErrCorrupt)
	}
}

func TestBlindIndex(t *testing.T) {
	k := mustKeyring(t, 1)
	a := k.BlindIndex("patient.email", "jane@example.com")
	if got, want := len(a), 64; got != want {
		t.Fatalf("len(BlindIndex) = %d, want %d", got, want)
	}
	if got, want := k.BlindIndex("patient.email", "jane@example.com"), a; got != want {
		t.Errorf("BlindIndex not deterministic: %q then %q", want, got)
	}
	if got := k.BlindIndex("patient.email", "john@example.com"); got == a {
		t.Errorf("BlindIndex equal for different values: %q", got)
	}
	if got := k.BlindIndex("patient.phone", "jane@example.com"); got == a {
		t.Errorf("BlindIndex equal for different purposes: %q", got)
	}
	if got := mustKeyring(t, 3).BlindIndex("patient.email", "jane@example.com"); got == a {
		t.Errorf("BlindIndex equal under different keys: %q", got)
	}
	// Stable across rotation: the lowest version's key is used.
	if got, want := mustKeyring(t, 1, 2, 5).BlindIndex("patient.email", "jane@example.com"), a; got != want {
		t.Errorf("BlindIndex after adding versions = %q, want %q", got, want)
	}
	// The index key is separate from the encryption key and from the master.
	if got, want := mustKeyring(t, 2).BlindIndex("p", "v"), mustKeyring(t, 2, 3).BlindIndex("p", "v"); got != want {
		t.Errorf("BlindIndex with ring{2,3} = %q, want ring{2} %q", got, want)
	}
}

func TestGenerateKey(t *testing.T) {
	a, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(a), 32; got != want {
		t.Fatalf("len(GenerateKey()) = %d, want %d", got, want)
	}
	if bytes.Equal(a, b) {
		t.Errorf("GenerateKey returned the same key twice")
	}
	if _, err := NewKeyring(map[uint32][]byte{1: a}); err != nil {
		t.Errorf("NewKeyring(generated key): %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	k := mustKeyring(f, 1, 2)
	valid := mustSeal(f, k, "t", "c", "r", []byte("0123456789abcdef0123456789abcdef"))
	f.Add("t", "c", "r", valid)
	f.Add("t", "c", "r", "")
	f.Add("t", "c", "r", "v1:")
	f.Add("t", "c", "r", "v2:"+valid[3:])
	f.Add("t", "c", "r", "v3:"+valid[3:])
	f.Add("t", "c", "r", "v"+strconv.Itoa(1<<33)+":"+valid[3:])
	f.Add("t\x00c", "", "r", valid)
	f.Fuzz(func(t *testing.T, table, column, rowID, sealed string) {
		plaintext, err := k.Open(table, column, rowID, sealed)
		if err != nil {
			if plaintext != nil {
				t.Errorf("Open returned %q with error %v", plaintext, err)
			}
			return
		}
		if _, err := k.VersionOf(sealed); err != nil {
			t.Errorf("Open(%q) succeeded but VersionOf failed: %v", sealed, err)
		}
		k.NeedsRotation(sealed)
	})
}

func BenchmarkSeal(b *testing.B) {
	k := mustKeyring(b, 1)
	field := bytes.Repeat([]byte("x"), 32)
	b.ReportAllocs()
	b.SetBytes(int64(len(field)))
	for b.Loop() {
		if _, err := k.Seal("patients", "ssn", "3f0e2a4c-7b1d-4e8a-9c6f-0d2b5a7e9f11", field); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	k := mustKeyring(b, 1)
	const rowID = "3f0e2a4c-7b1d-4e8a-9c6f-0d2b5a7e9f11"
	field := bytes.Repeat([]byte("x"), 32)
	sealed := mustSeal(b, k, "patients", "ssn", rowID, field)
	b.ReportAllocs()
	b.SetBytes(int64(len(field)))
	for b.Loop() {
		if _, err := k.Open("patients", "ssn", rowID, sealed); err != nil {
			b.Fatal(err)
		}
	}
}
