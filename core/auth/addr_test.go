package auth

import "testing"

func TestClientIP(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		remoteAddr string
		want       string
	}{
		"ipv4 with port":       {"203.0.113.7:51234", "203.0.113.7"},
		"ipv4 without port":    {"203.0.113.7", "203.0.113.7"},
		"ipv6 with port":       {"[2001:db8::1]:443", "2001:db8::1"},
		"ipv6 upper-case":      {"[2001:DB8:0:0::1]:443", "2001:db8::1"},
		"ipv6 without port":    {"2001:db8::1", "2001:db8::1"},
		"ipv6 bracketed":       {"[2001:db8::1]", "2001:db8::1"},
		"ipv6 loopback":        {"[::1]:8080", "::1"},
		"ipv6 zone":            {"[fe80::1%eth0]:80", "fe80::1"},
		"ipv4-mapped ipv6":     {"[::ffff:192.0.2.1]:80", "192.0.2.1"},
		"empty":                {"", ""},
		"unix socket":          {"@", "@"},
		"hostname keeps host":  {"localhost:80", "localhost"},
		"port only":            {":80", ""},
		"unbalanced brackets":  {"[2001:db8::1", "[2001:db8::1"},
		"ipv4 with empty port": {"192.0.2.1:", "192.0.2.1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := ClientIP(tc.remoteAddr); got != tc.want {
				t.Errorf("ClientIP(%q) = %q; want %q", tc.remoteAddr, got, tc.want)
			}
		})
	}
}

func TestClientNet(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		ip   string
		want string
	}{
		"ipv4":             {"203.0.113.7", "203.0.113.7"},
		"ipv6":             {"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		"ipv6 same /64":    {"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		"ipv6 loopback":    {"::1", "::/64"},
		"ipv4-mapped ipv6": {"::ffff:192.0.2.1", "192.0.2.1"},
		"not an address":   {"@", "@"},
		"empty":            {"", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := ClientNet(tc.ip); got != tc.want {
				t.Errorf("ClientNet(%q) = %q; want %q", tc.ip, got, tc.want)
			}
		})
	}
}
