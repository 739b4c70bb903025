package apikey

import (
	"crypto/sha256"
	"errors"
	"hash/crc32"
	"math/big"
	"strings"
	"testing"
	"time"
)

func mustGenerate(t testing.TB, env string) string {
	t.Helper()
	key, err := Generate(env)
	if err != nil {
		t.Fatalf("Generate(%q): %v", env, err)
	}
	return key
}

func TestGenerateParseRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		env, prefix string
		length      int
	}{
		{"development", "dev_", 53},
		{"production", "prod_", 54},
	} {
		for range 100 {
			key := mustGenerate(t, tc.env)
			if got, want := len(key), tc.length; got != want {
				t.Fatalf("len(%q) = %d, want %d", key, got, want)
			}
			if !strings.HasPrefix(key, tc.prefix) {
				t.Fatalf("key %q: want prefix %q", key, tc.prefix)
			}
			got, err := Parse(key)
			if err != nil {
				t.Fatalf("Parse(%q): %v", key, err)
			}
			if want := tc.env; got != want {
				t.Fatalf("Parse(%q) = %q, want %q", key, got, want)
			}
		}
	}
}

func TestGenerateUnknownEnvironment(t *testing.T) {
	for _, env := range []string{"", "dev", "prod", "Production", "staging"} {
		if key, err := Generate(env); err == nil {
			t.Errorf("Generate(%q) = %q, nil; want error", env, key)
		}
	}
}

func TestGenerateDistinct(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		key := mustGenerate(t, "production")
		if seen[key] {
			t.Fatalf("Generate returned %q twice", key)
		}
		seen[key] = true
	}
}

// withCheck returns prefixAndBody followed by its correct checksum.
func withCheck(prefixAndBody string) string {
	var check [checkLen]byte
	encodeCheck(check[:], crc32.ChecksumIEEE([]byte(prefixAndBody)))
	return prefixAndBody + string(check[:])
}

func TestParseRejects(t *testing.T) {
	dev := mustGenerate(t, "development")
	prod := mustGenerate(t, "production")
	devBody := dev[len("dev_") : len("dev_")+bodyLen]

	flipped := []byte(dev)
	i := len("dev_") + 10
	if flipped[i] == 'a' {
		flipped[i] = 'b'
	} else {
		flipped[i] = 'a'
	}

	for _, tc := range []struct {
		name, key string
	}{
		{"empty", ""},
		{"prefix only", "dev_"},
		{"wrong prefix", "tst_" + dev[4:]},
		{"upper-case prefix", "DEV_" + dev[4:]},
		{"no separator", "dev" + dev[4:]},
		{"dev prefix with prod length", "dev_" + prod[5:] + "0"},
		{"dev prefix with prod length and valid checksum", withCheck("dev_0" + devBody)},
		{"prod prefix with dev length and valid checksum", withCheck("prod_" + devBody[1:])},
		{"prod body under dev prefix", "dev_" + prod[5:]},
		{"flipped character", string(flipped)},
		{"flipped checksum", dev[:len(dev)-1] + string(rune(dev[len(dev)-1]^1))},
		{"non-base62 character", withCheck("dev_" + devBody[:20] + "-" + devBody[21:])},
		{"non-ASCII character", "dev_" + devBody[:20] + "é" + devBody[22:] + dev[len(dev)-6:]},
		{"too long", dev + "0"},
		{"too short", dev[:len(dev)-1]},
		{"leading space", " " + dev},
		{"trailing space", dev + " "},
		{"trailing newline", dev + "\n"},
		{"body above 2^256", withCheck("dev_" + strings.Repeat("z", bodyLen))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, err := Parse(tc.key)
			if got, want := err, ErrMalformed; !errors.Is(got, want) {
				t.Errorf("Parse(%q) = %q, %v; want error %v", tc.key, env, got, want)
			}
			if env != "" {
				t.Errorf("Parse(%q) env = %q, want empty", tc.key, env)
			}
		})
	}
}

func TestParseBoundaryBodies(t *testing.T) {
	for _, body := range []string{strings.Repeat("0", bodyLen), maxBody} {
		key := withCheck("prod_" + body)
		if _, err := Parse(key); err != nil {
			t.Errorf("Parse(%q): %v", key, err)
		}
	}
}

func TestEncodeBodyMatchesBig(t *testing.T) {
	inputs := [][randomBytes]byte{{}, {31: 1}, {0: 1}}
	var ones [randomBytes]byte
	for i := range ones {
		ones[i] = 0xff
	}
	inputs = append(inputs, ones)
	for i := range 20 {
		var in [randomBytes]byte
		for j := range in {
			in[j] = byte(i*31 + j*7)
		}
		inputs = append(inputs, in)
	}
	for _, in := range inputs {
		var got [bodyLen]byte
		encodeBody(got[:], in)
		if want := bigBase62(in[:], bodyLen); string(got[:]) != want {
			t.Errorf("encodeBody(%x) = %q, want %q", in, got, want)
		}
	}
	if got, want := bigBase62(ones[:], bodyLen), maxBody; got != want {
		t.Errorf("base62(2^256-1) = %q, want maxBody %q", got, want)
	}
}

// bigBase62 is a reference base62 encoder built on math/big.
func bigBase62(b []byte, width int) string {
	n := new(big.Int).SetBytes(b)
	base := big.NewInt(62)
	mod := new(big.Int)
	var out []byte
	for n.Sign() > 0 {
		n.DivMod(n, base, mod)
		out = append([]byte{alphabet[mod.Int64()]}, out...)
	}
	return strings.Repeat("0", width-len(out)) + string(out)
}

func TestEncodeCheck(t *testing.T) {
	for _, v := range []uint32{0, 1, 61, 62, 1 << 31, ^uint32(0)} {
		var got [checkLen]byte
		encodeCheck(got[:], v)
		if want := bigBase62(big.NewInt(int64(v)).Bytes(), checkLen); string(got[:]) != want {
			t.Errorf("encodeCheck(%d) = %q, want %q", v, got, want)
		}
	}
}

func TestCRCString(t *testing.T) {
	for _, s := range []string{"", "a", "dev_", strings.Repeat("xyz", 50)} {
		if got, want := crcString(s), crc32.ChecksumIEEE([]byte(s)); got != want {
			t.Errorf("crcString(%q) = %#x, want %#x", s, got, want)
		}
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation may allocate")
	}
	key := mustGenerate(t, "production")
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := Parse(key); err != nil {
			t.Fatal(err)
		}
		_ = HashKey(key)
	})
	if got, want := allocs, 0.0; got != want {
		t.Errorf("Parse+HashKey allocs = %v, want %v", got, want)
	}
}

func TestHashKey(t *testing.T) {
	for _, key := range []string{
		"",
		mustGenerate(t, "development"),
		mustGenerate(t, "production"),
		strings.Repeat("k", 64),
		strings.Repeat("k", 65),
		strings.Repeat("k", 1000),
	} {
		if got, want := HashKey(key), Hash(sha256.Sum256([]byte(key))); got != want {
			t.Errorf("HashKey(%q) = %x, want %x", key, got, want)
		}
	}
}

func TestHashHexRoundTrip(t *testing.T) {
	h := HashKey(mustGenerate(t, "development"))
	text := h.Hex()
	if got, want := len(text), 64; got != want {
		t.Fatalf("len(Hex()) = %d, want %d", got, want)
	}
	if got, want := text, strings.ToLower(text); got != want {
		t.Errorf("Hex() = %q, want lower case %q", got, want)
	}
	for _, in := range []string{text, strings.ToUpper(text)} {
		got, err := ParseHash(in)
		if err != nil {
			t.Fatalf("ParseHash(%q): %v", in, err)
		}
		if want := h; got != want {
			t.Errorf("ParseHash(%q) = %x, want %x", in, got, want)
		}
	}
}

func TestParseHashRejects(t *testing.T) {
	valid := HashKey("x").Hex()
	for _, in := range []string{"", valid[:62], valid + "00", "zz" + valid[2:], " " + valid[1:]} {
		if h, err := ParseHash(in); err == nil {
			t.Errorf("ParseHash(%q) = %x, nil; want error", in, h)
		}
	}
}

func TestEqual(t *testing.T) {
	a, b := HashKey("a"), HashKey("b")
	if got, want := Equal(a, a), true; got != want {
		t.Errorf("Equal(a, a) = %v, want %v", got, want)
	}
	if got, want := Equal(a, b), false; got != want {
		t.Errorf("Equal(a, b) = %v, want %v", got, want)
	}
	c := a
	c[31] ^= 1
	if got, want := Equal(a, c), false; got != want {
		t.Errorf("Equal(a, a with last bit flipped) = %v, want %v", got, want)
	}
}

func TestDisplayPrefix(t *testing.T) {
	key := mustGenerate(t, "development")
	for _, tc := range []struct{ in, want string }{
		{key, key[:12]},
		{"", ""},
		{"dev_", "dev_"},
		{"dev_12345678", "dev_12345678"},
		{"prod_1234567890", "prod_1234567"},
	} {
		if got := DisplayPrefix(tc.in); got != tc.want {
			t.Errorf("DisplayPrefix(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("")
	f.Add("dev_")
	f.Add("prod_")
	f.Add(withCheck("dev_" + strings.Repeat("0", bodyLen)))
	f.Add(withCheck("prod_" + maxBody))
	f.Add(withCheck("prod_" + strings.Repeat("z", bodyLen)))
	f.Add("dev_" + strings.Repeat("é", 30))
	f.Fuzz(func(t *testing.T, key string) {
		env, err := Parse(key)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) error = %v, want %v", key, err, ErrMalformed)
			}
			return
		}
		var prefix string
		switch env {
		case "development":
			prefix = "dev_"
		case "production":
			prefix = "prod_"
		default:
			t.Fatalf("Parse(%q) env = %q", key, env)
		}
		if !strings.HasPrefix(key, prefix) {
			t.Errorf("Parse(%q) = %q, but key lacks prefix %q", key, env, prefix)
		}
		if got, want := len(key), len(prefix)+bodyLen+checkLen; got != want {
			t.Errorf("Parse(%q) succeeded with length %d, want %d", key, got, want)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	key := mustGenerate(b, "production")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHashKey(b *testing.B) {
	key := mustGenerate(b, "production")
	b.ReportAllocs()
	for b.Loop() {
		HashKey(key)
	}
}

func BenchmarkVerify(b *testing.B) {
	key := mustGenerate(b, "production")
	c := NewCache[int64](time.Minute, 1000, nil)
	c.Put(HashKey(key), 42)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(key); err != nil {
			b.Fatal(err)
		}
		if _, ok := c.Get(HashKey(key)); !ok {
			b.Fatal("cache miss")
		}
	}
}
