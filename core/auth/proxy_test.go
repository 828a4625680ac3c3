package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestFromTrustedProxies(t *testing.T) {
	t.Parallel()
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", "::1", "192.168.1.7"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"untrusted peer keeps its address", "203.0.113.9:4000", []string{"198.51.100.1"}, "203.0.113.9"},
		{"trusted peer, one hop", "10.1.2.3:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"a client cannot choose its address", "10.1.2.3:4000", []string{"1.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		{"chained trusted proxies", "10.1.2.3:4000", []string{"198.51.100.1, 192.168.1.7", "10.9.9.9"}, "198.51.100.1"},
		{"IPv6 loopback proxy", "[::1]:4000", []string{"2001:db8::5"}, "2001:db8::5"},
		{"malformed hop stops at the last vouched one", "10.1.2.3:4000", []string{"198.51.100.1, bogus, 10.2.2.2"}, "10.2.2.2"},
		{"no header", "10.1.2.3:4000", nil, "10.1.2.3"},
		{"only trusted hops", "10.1.2.3:4000", []string{"10.3.3.3"}, "10.3.3.3"},
		{"a mapped IPv4 peer", "[::ffff:10.1.2.3]:4000", []string{"198.51.100.1"}, "198.51.100.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			h := FromTrustedProxies(trusted, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				got = ClientIP(r.RemoteAddr)
			}))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got != tt.want {
				t.Fatalf("client = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseTrustedProxiesRejectsNonsense(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "10.0.0.0/33", "proxy.example.com", "10.0.0.1:80"} {
		if _, err := ParseTrustedProxy(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
