package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// lookupTimeout bounds one resolution of a webhook host.
const lookupTimeout = 3 * time.Second

// Resolver looks up a host's addresses (net.DefaultResolver satisfies it;
// tests use a stub).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// URLPolicy decides which webhook URLs and addresses may be used.
type URLPolicy struct {
	// AllowInsecure permits http:// and loopback or private addresses
	// (development, so partners can test locally).
	AllowInsecure bool
	Resolver      Resolver
}

// ErrForbidden wraps every refusal.
var ErrForbidden = errors.New("webhook URL not allowed")

// errUnresolved is a name the resolver does not know (yet): registration
// accepts it, a delivery cannot connect to it.
var errUnresolved = fmt.Errorf("%w: the host does not resolve", ErrForbidden)

// globalUnicast6 is the only IPv6 space a delivery may reach; blocked
// removes its special-purpose ranges (IANA IPv6 special-purpose registry).
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("169.254.0.0/16"),  // link-local, cloud metadata
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64 (can reach IPv4 internals)
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001::/23"),     // IETF protocol assignments: Teredo, benchmarking, ORCHID, …
	netip.MustParsePrefix("2002::/16"),     // 6to4 (can embed any IPv4 address)
	netip.MustParsePrefix("2001:db8::/32"), // documentation
	netip.MustParsePrefix("3fff::/20"),     // documentation
	netip.MustParsePrefix("fec0::/10"),     // site-local
}

// CheckAddr reports whether a delivery may connect to a. An IPv4-mapped
// address (::ffff:a.b.c.d) is judged as the IPv4 address it carries; any
// other IPv6 address must be global unicast (2000::/3) outside the
// special-purpose ranges, so IPv4-compatible (::a.b.c.d), IPv4-translated
// (::ffff:0:a.b.c.d), discard-only (100::/64) and NAT64 forms are refused.
func (p URLPolicy) CheckAddr(a netip.Addr) error {
	a = a.Unmap()
	if a.Is6() && !a.IsLoopback() && !a.IsPrivate() && !globalUnicast6.Contains(a) {
		return fmt.Errorf("%w: address %s is not global unicast", ErrForbidden, a)
	}
	switch {
	case !a.IsValid(), a.IsUnspecified(), a.IsMulticast(), a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		return fmt.Errorf("%w: address %s is not routable", ErrForbidden, a)
	case a.IsLoopback() || a.IsPrivate():
		if p.AllowInsecure {
			return nil
		}
		return fmt.Errorf("%w: address %s is internal", ErrForbidden, a)
	}
	for _, b := range blocked {
		if b.Contains(a) {
			return fmt.Errorf("%w: address %s is reserved", ErrForbidden, a)
		}
	}
	if !a.IsGlobalUnicast() {
		return fmt.Errorf("%w: address %s is not public", ErrForbidden, a)
	}
	return nil
}

// CheckURL validates a webhook URL and the addresses its host resolves to.
func (p URLPolicy) CheckURL(ctx context.Context, raw string) (*url.URL, error) {
	if len(raw) > 2048 {
		return nil, fmt.Errorf("%w: longer than 2048 characters", ErrForbidden)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("%w: not an absolute URL", ErrForbidden)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && p.AllowInsecure:
	default:
		return nil, fmt.Errorf("%w: the scheme must be https", ErrForbidden)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: credentials in the URL", ErrForbidden)
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("%w: a fragment is not sent", ErrForbidden)
	}
	host := u.Hostname()
	if port := u.Port(); port != "" && (len(port) > 5 || port == "0") {
		return nil, fmt.Errorf("%w: bad port", ErrForbidden)
	}
	addrs, err := p.resolve(ctx, host)
	if errors.Is(err, errUnresolved) {
		// A name that does not resolve (yet) registers: the documented
		// your-domain.com examples must, and every delivery resolves and
		// checks the host again when it connects.
		return u, nil
	}
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if err := p.CheckAddr(a); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// resolve returns a host's addresses: a literal IP as itself, a DNS name
// through the resolver. Numeric spellings other than canonical dotted quads
// (2130706433, 0x7f.1, 0177.0.0.1) are refused rather than guessed at.
func (p URLPolicy) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return nil, fmt.Errorf("%w: zoned address", ErrForbidden)
		}
		return []netip.Addr{a}, nil
	}
	if !validHostname(host) {
		return nil, fmt.Errorf("%w: %q is not a valid host name", ErrForbidden, host)
	}
	if p.Resolver == nil {
		return nil, fmt.Errorf("%w: no resolver", ErrForbidden)
	}
	// A slow or absent DNS must not hold a registration for long.
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	addrs, err := p.Resolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return nil, errUnresolved
	}
	return addrs, nil
}

// validHostname accepts DNS names whose last label is not numeric, so that
// integer and hex IP spellings never reach a resolver that might accept them.
func validHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	if strings.HasPrefix(strings.ToLower(last), "0x") {
		return false
	}
	for i := 0; i < len(last); i++ {
		if last[i] < '0' || last[i] > '9' {
			return true
		}
	}
	return false
}

// Dialer connects only to allowed addresses: it resolves the host itself,
// checks every address, and checks again at the socket (Control), so DNS
// rebinding between check and connect cannot reach an internal address.
type Dialer struct {
	Policy URLPolicy
	// Dial makes the connection to a checked ip:port (net.Dialer by
	// default; tests record and refuse).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// DialContext is an http.Transport DialContext.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	addrs, err := d.Policy.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for _, a := range addrs {
		if err := d.Policy.CheckAddr(a); err != nil {
			lastErr = err
			continue
		}
		dial := d.Dial
		if dial == nil {
			nd := &net.Dialer{Control: d.control}
			dial = nd.DialContext
		}
		conn, err := dial(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return conn, nil
		}
		lastErr = err
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("%w: no address", ErrForbidden)
	}
	return nil, lastErr
}

func (d *Dialer) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrForbidden, err)
	}
	return d.Policy.CheckAddr(ap.Addr())
}
