package auth

import (
	"net"
	"net/netip"
	"strings"
)

// ClientIP returns the client address of a request from its RemoteAddr
// ("203.0.113.7:51234", "[2001:db8::1]:443"): the port and IPv6 brackets
// and zone are stripped and the address is written canonically, with
// IPv4-mapped IPv6 addresses as plain IPv4, so one client always yields the
// same rate-limit and audit key. Input that is not an IP address (a Unix
// socket peer, for example) comes back with only the port stripped.
//
// X-Forwarded-For and similar headers are not consulted here: any client
// can set them. FromTrustedProxies rewrites RemoteAddr for requests that
// arrive from the proxies the server's trusted_proxies setting names.
func ClientIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		// No port: a bare address, possibly bracketed.
		host = remoteAddr
		if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
			host = host[1 : len(host)-1]
		}
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	return ip.WithZone("").Unmap().String()
}

// ClientNet returns the key to rate-limit a client address by: an IPv4
// address itself, and for IPv6 its /64 network ("2001:db8:1:2::/64"),
// because a single host commonly holds a whole /64 and could otherwise
// rotate through addresses to escape a per-address limit. ip is a
// ClientIP result; anything that is not an IP address is returned as is.
func ClientNet(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.WithZone("").Unmap()
	if addr.Is4() {
		return addr.String()
	}
	prefix, err := addr.Prefix(64)
	if err != nil {
		return ip
	}
	return prefix.String()
}
