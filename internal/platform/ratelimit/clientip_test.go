package ratelimit_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/rightsize/rightsize/internal/platform/ratelimit"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	const peer = "10.0.0.2:51234" // the load balancer, when there is one
	tests := []struct {
		name    string
		remote  string
		xff     []string // one element per header line
		proxies int
		want    string // "" means an error
	}{
		// No proxy: the TCP peer, whatever the headers say.
		{"direct", "203.0.113.7:41234", nil, 0, "203.0.113.7"},
		{"direct ignores XFF", "203.0.113.7:41234", []string{"198.51.100.1"}, 0, "203.0.113.7"},
		{"direct IPv6", "[2001:db8::7]:443", nil, 0, "2001:db8::7"},
		{"direct IPv4-mapped", "[::ffff:203.0.113.7]:443", nil, 0, "203.0.113.7"},
		{"direct zone dropped", "[fe80::1%eth0]:443", nil, 0, "fe80::1"},
		{"direct without port", "203.0.113.7", nil, 0, "203.0.113.7"},
		{"direct garbage remote", "not-an-ip", nil, 0, ""},
		{"direct empty remote", "", nil, 0, ""},
		{"direct unix socket", "@", []string{"198.51.100.1"}, 0, ""},

		// One proxy: the rightmost entry, which it appended.
		{"one proxy", peer, []string{"203.0.113.7"}, 1, "203.0.113.7"},
		{"one proxy, spoofed entries ignored", peer, []string{"1.1.1.1, 8.8.8.8, 203.0.113.7"}, 1, "203.0.113.7"},
		{"one proxy, spoof on its own header line", peer, []string{"1.1.1.1", "203.0.113.7"}, 1, "203.0.113.7"},
		{"one proxy, spaces", peer, []string{"  1.1.1.1 ,\t203.0.113.7  "}, 1, "203.0.113.7"},
		{"one proxy, no spaces", peer, []string{"1.1.1.1,203.0.113.7"}, 1, "203.0.113.7"},
		{"one proxy, empty entries skipped", peer, []string{"1.1.1.1,, 203.0.113.7, ,"}, 1, "203.0.113.7"},
		{"one proxy, IPv4 with port", peer, []string{"203.0.113.7:41234"}, 1, "203.0.113.7"},
		{"one proxy, IPv6", peer, []string{"2001:db8::7"}, 1, "2001:db8::7"},
		{"one proxy, IPv6 bracketed", peer, []string{"[2001:db8::7]"}, 1, "2001:db8::7"},
		{"one proxy, IPv6 with port", peer, []string{"[2001:db8::7]:443"}, 1, "2001:db8::7"},
		{"one proxy, IPv4-mapped", peer, []string{"::ffff:203.0.113.7"}, 1, "203.0.113.7"},
		{"one proxy, no header", peer, nil, 1, "10.0.0.2"},
		{"one proxy, empty header", peer, []string{""}, 1, "10.0.0.2"},
		{"one proxy, only commas", peer, []string{" , ,"}, 1, "10.0.0.2"},
		{"one proxy, garbage at its position", peer, []string{"203.0.113.7, unknown"}, 1, "10.0.0.2"},
		{"one proxy, garbage left of it ignored", peer, []string{"<script>, 203.0.113.7"}, 1, "203.0.113.7"},
		{"one proxy, hostname", peer, []string{"evil.example"}, 1, "10.0.0.2"},
		{"one proxy, bad port", peer, []string{"203.0.113.7:http"}, 1, "10.0.0.2"},
		{"one proxy, empty brackets", peer, []string{"[]"}, 1, "10.0.0.2"},
		{"one proxy, CIDR", peer, []string{"203.0.113.0/24"}, 1, "10.0.0.2"},
		{"one proxy, garbage header and remote", "garbage", []string{"junk"}, 1, ""},
		{"one proxy, header saves bad remote", "garbage", []string{"203.0.113.7"}, 1, "203.0.113.7"},

		// Two proxies (a CDN in front of the load balancer): second from the right.
		{"two proxies", peer, []string{"203.0.113.7, 172.16.0.9"}, 2, "203.0.113.7"},
		{"two proxies, spoofed entries ignored", peer, []string{"6.6.6.6, 7.7.7.7, 203.0.113.7, 172.16.0.9"}, 2, "203.0.113.7"},
		{"two proxies, across header lines", peer, []string{"6.6.6.6, 203.0.113.7", "172.16.0.9"}, 2, "203.0.113.7"},
		{"two proxies, too few entries", peer, []string{"203.0.113.7"}, 2, "10.0.0.2"},
		{"two proxies, IPv6 with port", peer, []string{"[2001:db8::7]:5555, 172.16.0.9"}, 2, "2001:db8::7"},

		{"negative proxies", peer, nil, -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got, err := ratelimit.ClientIP(r, tt.proxies)
			switch {
			case tt.want == "" && err == nil:
				t.Errorf("got %v, want an error", got)
			case tt.want != "" && err != nil:
				t.Errorf("got error %v, want %s", err, tt.want)
			case tt.want != "" && got != netip.MustParseAddr(tt.want):
				t.Errorf("got %v, want %s", got, tt.want)
			}
		})
	}
}

func TestIPKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   netip.Addr
		want string
	}{
		{netip.MustParseAddr("203.0.113.7"), "203.0.113.7"},
		{netip.MustParseAddr("::ffff:203.0.113.7"), "203.0.113.7"},
		{netip.MustParseAddr("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64"},
		{netip.MustParseAddr("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64"},
		{netip.MustParseAddr("2001:db8:1:3::1"), "2001:db8:1:3::/64"},
		{netip.MustParseAddr("fe80::1%eth0"), "fe80::/64"},
		{netip.Addr{}, ""},
	}
	for _, tt := range tests {
		if got := ratelimit.IPKey(tt.in); got != tt.want {
			t.Errorf("IPKey(%v): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzClientIP checks that no header or remote address makes ClientIP panic,
// and that whatever it returns without error is a normalized address.
func FuzzClientIP(f *testing.F) {
	seeds := []struct {
		xff, remote string
		proxies     uint8
	}{
		{"", "203.0.113.7:41234", 0},
		{"203.0.113.7", "10.0.0.2:80", 1},
		{"1.1.1.1, 203.0.113.7, 172.16.0.9", "10.0.0.2:80", 2},
		{"[2001:db8::7]:443", "[::1]:80", 1},
		{"::ffff:1.2.3.4", "[fe80::1%eth0]:80", 1},
		{",,, ,", "garbage", 3},
		{"[", "[", 1},
		{"[]:", "]:[", 1},
		{"1.2.3.4:99999", "1.2.3.4:-1", 1},
	}
	for _, s := range seeds {
		f.Add(s.xff, s.remote, s.proxies)
	}
	f.Fuzz(func(t *testing.T, xff, remote string, proxies uint8) {
		r := &http.Request{Header: http.Header{"X-Forwarded-For": {xff}}, RemoteAddr: remote}
		a, err := ratelimit.ClientIP(r, int(proxies%8))
		if err != nil {
			return
		}
		if !a.IsValid() || a.Is4In6() || a.Zone() != "" {
			t.Fatalf("ClientIP(xff %q, remote %q, %d): got %v, want a valid, unmapped, zoneless address", xff, remote, proxies%8, a)
		}
		if ratelimit.IPKey(a) == "" {
			t.Fatalf("IPKey(%v): got empty, want a key", a)
		}
	})
}
