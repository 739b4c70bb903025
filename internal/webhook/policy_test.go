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

// recordingResolver answers not-found for every name and records what it
// was asked: a machine without DNS, as the published examples meet it.
type recordingResolver struct {
	mu    sync.Mutex
	hosts []string
}

func (r *recordingResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	r.hosts = append(r.hosts, host)
	r.mu.Unlock()
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// TestURLPolicyAcceptsUnresolvedName: the published examples' host does
// not resolve (here: nothing does), yet registers; only the injected
// resolver is asked, and only about that host. Literal internal addresses
// are still refused, and a delivery to the name is checked again when it
// connects (the dialer refuses a name that does not resolve).
func TestURLPolicyAcceptsUnresolvedName(t *testing.T) {
	rec := &recordingResolver{}
	p := URLPolicy{Resolver: rec}
	u, err := p.CheckURL(context.Background(), "https://your-domain.com/webhooks")
	if err != nil {
		t.Fatalf("https://your-domain.com/webhooks refused: %v", err)
	}
	if got, want := u.String(), "https://your-domain.com/webhooks"; got != want {
		t.Errorf("url = %q, want %q", got, want)
	}
	if !slices.Equal(rec.hosts, []string{"your-domain.com"}) {
		t.Errorf("resolver asked about %q, want only your-domain.com", rec.hosts)
	}
	for _, refused := range []string{"https://127.0.0.1/h", "https://[::1]/h", "https://10.0.0.1/h", "https://169.254.169.254/h"} {
		if _, err := p.CheckURL(context.Background(), refused); !errors.Is(err, ErrForbidden) {
			t.Errorf("%s allowed with a not-found resolver (err %v)", refused, err)
		}
	}
	dial := &recordingDialer{}
	d := &Dialer{Policy: p, Dial: dial.Dial}
	if _, err := d.DialContext(context.Background(), "tcp", "your-domain.com:443"); err == nil {
		t.Errorf("a delivery to an unresolved name connected")
	}
	if len(dial.addrs) != 0 {
		t.Errorf("dialed %v for a name that does not resolve", dial.addrs)
	}
}

// TestURLPolicyIPv6OnlyGlobalUnicast (issue 19, finding 6): IPv6 targets
// must be global unicast (2000::/3) outside the special-purpose ranges, as
// literals, as resolved addresses and at the socket; IPv4-mapped forms are
// judged as the IPv4 address they carry.
func TestURLPolicyIPv6OnlyGlobalUnicast(t *testing.T) {
	refused := []string{
		"::127.0.0.1",        // IPv4-compatible loopback (::/96, deprecated)
		"::a9fe:a9fe",        // IPv4-compatible 169.254.169.254 (metadata)
		"::ffff:0:0",         // IPv4-mapped 0.0.0.0
		"::ffff:0:7f00:1",    // IPv4-translated (::ffff:0:0:0/96) 127.0.0.1
		"::ffff:0:a9fe:a9fe", // IPv4-translated 169.254.169.254
		"100::1",             // discard-only (100::/64)
		"100::ffff:1",        // discard-only
		"4000::1",            // outside 2000::/3 (unassigned)
		"5f00::1",            // SRv6 SIDs, outside 2000::/3
		"2001::1",            // Teredo (2001::/23)
		"2001:2::1",          // benchmarking (2001::/23)
		"2001:10::1",         // ORCHID (2001::/23)
		"2001:db8::1",        // documentation
		"2002:7f00:1::1",     // 6to4 of 127.0.0.1
		"3fff::1",            // documentation (3fff::/20)
		"64:ff9b::a9fe:a9fe", // NAT64 of the metadata address
		"fc00::1", "fe80::1", "ff02::1", "::", "::1",
	}
	rec := &recordingDialer{}
	for _, a := range refused {
		p := URLPolicy{Resolver: stubResolver{"v6.example.test": {a}}}
		if _, err := p.CheckURL(context.Background(), "https://["+a+"]/h"); !errors.Is(err, ErrForbidden) {
			t.Errorf("literal [%s] allowed (err %v)", a, err)
		}
		if _, err := p.CheckURL(context.Background(), "https://v6.example.test/h"); !errors.Is(err, ErrForbidden) {
			t.Errorf("a name resolving to %s allowed (err %v)", a, err)
		}
		d := &Dialer{Policy: p, Dial: rec.Dial}
		if _, err := d.DialContext(context.Background(), "tcp", "v6.example.test:443"); !errors.Is(err, ErrForbidden) {
			t.Errorf("dial to a name resolving to %s: %v", a, err)
		}
		if err := d.control("tcp6", netip.AddrPortFrom(netip.MustParseAddr(a), 443).String(), nil); !errors.Is(err, ErrForbidden) {
			t.Errorf("the socket check allowed %s: %v", a, err)
		}
	}
	if len(rec.addrs) != 0 {
		t.Errorf("dialed %v", rec.addrs)
	}
	for _, a := range []string{"2606:4700::1111", "2a00:1450:4001::1", "2620:fe::fe", "::ffff:93.184.216.34"} {
		p := URLPolicy{}
		if _, err := p.CheckURL(context.Background(), "https://["+a+"]/h"); err != nil {
			t.Errorf("public [%s] refused: %v", a, err)
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
		if errors.Is(rerr, errUnresolved) {
			return // a name that does not resolve yet: checked when delivered
		}
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
