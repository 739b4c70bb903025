package webhook

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"testing"
)

// stubResolver answers from a table and never touches the network.
type stubResolver map[string][]string

func (s stubResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	ips, ok := s[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	var out []netip.Addr
	for _, ip := range ips {
		out = append(out, netip.MustParseAddr(ip))
	}
	return out, nil
}

// recordingDialer records every address it is asked for and refuses all:
// no test connects anywhere.
type recordingDialer struct {
	mu    sync.Mutex
	addrs []string
}

func (d *recordingDialer) Dial(_ context.Context, _, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	return nil, errors.New("refused by test dialer")
}

var resolver = stubResolver{
	"partner.example.test":  {"93.184.216.34"},
	"internal.example.test": {"10.0.0.5"},
	"mixed.example.test":    {"93.184.216.34", "127.0.0.1"},
	"metadata.example.test": {"169.254.169.254"},
	"mapped.example.test":   {"::ffff:10.1.2.3"},
	"v6.example.test":       {"2606:4700::1111"},
	"localhost":             {"127.0.0.1", "::1"},
}

func TestURLPolicyProduction(t *testing.T) {
	p := URLPolicy{Resolver: resolver}
	ctx := context.Background()
	allowed := []string{
		"https://partner.example.test/hooks",
		"https://partner.example.test:8443/hooks?x=1",
		"https://v6.example.test/h",
	}
	for _, u := range allowed {
		if _, err := p.CheckURL(ctx, u); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
	refused := []string{
		"http://partner.example.test/hooks", // not https in production
		"https://127.0.0.1/h",               // loopback
		"https://[::1]/h",                   // loopback v6
		"https://localhost/h",               // resolves to loopback
		"https://10.1.2.3/h",                // private
		"https://172.16.0.1/h",              // private
		"https://192.168.1.1/h",             // private
		"https://[fd00::1]/h",               // unique local
		"https://169.254.169.254/latest",    // metadata, link-local
		"https://[fe80::1]/h",               // link-local v6
		"https://100.64.0.1/h",              // CGNAT
		"https://224.0.0.1/h",               // multicast
		"https://0.0.0.0/h",                 // unspecified
		"https://[::ffff:127.0.0.1]/h",      // IPv4-mapped loopback
		"https://mapped.example.test/h",     // resolves to mapped private
		"https://2130706433/h",              // decimal 127.0.0.1
		"https://0x7f000001/h",              // hex
		"https://0x7f.0.0.1/h",              // hex dotted
		"https://0177.0.0.1/h",              // octal
		"https://internal.example.test/h",   // resolves to private
		"https://metadata.example.test/h",   // resolves to metadata
		"https://mixed.example.test/h",      // one address internal
		"https://nowhere.example.test/h",    // does not resolve
		"https://user:pw@partner.example.test/h",
		"ftp://partner.example.test/h",
		"/relative/path",
		"https://partner.example.test:0/h",
	}
	for _, u := range refused {
		if _, err := p.CheckURL(ctx, u); !errors.Is(err, ErrForbidden) {
			t.Errorf("%s allowed (err %v)", u, err)
		}
	}
}

func TestURLPolicyDevelopmentAllowsLoopback(t *testing.T) {
	p := URLPolicy{AllowInsecure: true, Resolver: resolver}
	for _, u := range []string{"http://127.0.0.1:9000/h", "http://localhost:9000/h", "http://internal.example.test/h"} {
		if _, err := p.CheckURL(context.Background(), u); err != nil {
			t.Errorf("%s refused in development: %v", u, err)
		}
	}
	for _, u := range []string{"http://169.254.169.254/", "http://metadata.example.test/", "http://0.0.0.0/", "http://2130706433/"} {
		if _, err := p.CheckURL(context.Background(), u); err == nil {
			t.Errorf("%s allowed in development", u)
		}
	}
}

// TestDialerChecksEveryConnection: the dialer resolves and checks again, so
// a name that changed to an internal address (DNS rebinding) is refused
// before any connection is attempted; allowed ones reach only the stub.
func TestDialerChecksEveryConnection(t *testing.T) {
	rec := &recordingDialer{}
	rebinding := stubResolver{"partner.example.test": {"127.0.0.1"}}
	d := &Dialer{Policy: URLPolicy{Resolver: rebinding}, Dial: rec.Dial}
	if _, err := d.DialContext(context.Background(), "tcp", "partner.example.test:443"); !errors.Is(err, ErrForbidden) {
		t.Errorf("rebinding to loopback: %v", err)
	}
	if len(rec.addrs) != 0 {
		t.Fatalf("the dialer was asked for %v", rec.addrs)
	}
	d.Policy.Resolver = resolver
	if _, err := d.DialContext(context.Background(), "tcp", "mixed.example.test:443"); err == nil {
		t.Errorf("a refused test dial succeeded")
	}
	if len(rec.addrs) != 1 || rec.addrs[0] != "93.184.216.34:443" {
		t.Errorf("dialed %v, want only the public address", rec.addrs)
	}
	// The socket-level check refuses what the resolver-level check would.
	if err := d.control("tcp4", "10.0.0.1:443", nil); !errors.Is(err, ErrForbidden) {
		t.Errorf("control allowed a private address: %v", err)
	}
}

// TestRedirectToInternalNotFollowed: the delivery client never follows a
// redirect, so a public receiver cannot bounce a delivery inward.
func TestRedirectToInternalNotFollowed(t *testing.T) {
	rec := &recordingDialer{}
	c := NewClient(&Dialer{Policy: URLPolicy{Resolver: resolver}, Dial: rec.Dial})
	if c.CheckRedirect == nil || c.CheckRedirect(nil, nil) != http.ErrUseLastResponse {
		t.Fatalf("client follows redirects")
	}
	req, _ := http.NewRequest("POST", "https://internal.example.test/h", nil)
	if _, err := c.Do(req); err == nil {
		t.Fatalf("request to an internal host succeeded")
	}
	if len(rec.addrs) != 0 {
		t.Errorf("dialed %v for an internal host", rec.addrs)
	}
}

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://partner.example.test/h", "http://127.0.0.1/", "https://0x7f.1/", "https://[::ffff:10.0.0.1]/"} {
		f.Add(s)
	}
	p := URLPolicy{Resolver: resolver}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := p.CheckURL(context.Background(), raw)
		if err != nil {
			return
		}
		addrs, rerr := p.resolve(context.Background(), u.Hostname())
		if rerr != nil {
			t.Fatalf("allowed %q but cannot resolve it: %v", raw, rerr)
		}
		for _, a := range addrs {
			if p.CheckAddr(a) != nil {
				t.Fatalf("allowed %q resolving to %s", raw, a)
			}
		}
	})
}

func TestParseSchedule(t *testing.T) {
	s, err := ParseSchedule("0s, 1s,2m")
	if err != nil || len(s) != 3 || s[2].Minutes() != 2 {
		t.Fatalf("ParseSchedule = %v, %v", s, err)
	}
	if got, err := ParseSchedule(FormatSchedule(DefaultSchedule)); err != nil || !slices.Equal(got, DefaultSchedule) {
		t.Errorf("the default schedule does not round-trip: %v %v", got, err)
	}
	for _, bad := range []string{"", "x", "-1s", "1s,,2s"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) accepted", bad)
		}
	}
}
