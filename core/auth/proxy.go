package auth

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies parses trusted proxy entries: addresses
// ("10.0.0.5", "::1") and networks ("10.0.0.0/8", "fd00::/8").
func ParseTrustedProxies(entries []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(entries))
	for _, e := range entries {
		p, err := ParseTrustedProxy(e)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// ParseTrustedProxy parses one trusted proxy entry.
func ParseTrustedProxy(e string) (netip.Prefix, error) {
	e = strings.TrimSpace(e)
	if strings.Contains(e, "/") {
		p, err := netip.ParsePrefix(e)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(e)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.WithZone("").Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// FromTrustedProxies makes the client address of a request that arrives
// from a trusted proxy the one the proxies saw: r.RemoteAddr becomes the
// right-most X-Forwarded-For address that is not itself a trusted proxy.
// Everything downstream (rate limits, audit entries, logs) reads
// r.RemoteAddr through ClientIP and so sees the real client.
//
// Only the proxies' own entries are believed: X-Forwarded-For is read
// from the right, where the nearest proxy appended the address it saw,
// and the walk stops at the first untrusted address, so a client cannot
// pick its address by sending the header itself. A malformed entry ends
// the walk at the last address a trusted proxy vouched for. Requests from
// any other peer are left alone. With no trusted proxies it is next.
func FromTrustedProxies(trusted []netip.Prefix, next http.Handler) http.Handler {
	if len(trusted) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if client, ok := forwardedClient(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), trusted); ok {
			r2 := r.Clone(r.Context())
			r2.RemoteAddr = net.JoinHostPort(client.String(), "0")
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}

// forwardedClient is the client address behind the chain of trusted
// proxies ending at remoteAddr; ok is false when remoteAddr is not a
// trusted proxy or the header names no one.
func forwardedClient(remoteAddr string, header []string, trusted []netip.Prefix) (netip.Addr, bool) {
	peer, err := netip.ParseAddr(ClientIP(remoteAddr))
	if err != nil || !isTrusted(peer, trusted) {
		return netip.Addr{}, false
	}
	var hops []string
	for _, h := range header {
		for _, f := range strings.Split(h, ",") {
			hops = append(hops, strings.TrimSpace(f))
		}
	}
	client, found := netip.Addr{}, false
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(ClientIP(hops[i]))
		if err != nil {
			break
		}
		client, found = a.WithZone("").Unmap(), true
		if !isTrusted(client, trusted) {
			break
		}
	}
	return client, found
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.WithZone("").Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
