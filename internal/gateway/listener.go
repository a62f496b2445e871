package gateway

import (
	"net"
	"net/http"
	"net/netip"
)

// listener is a data-plane listener as the pipeline sees it.
type listener struct {
	name string
	kind string
}

// clientAddr is the caller's address: the socket peer.
func (l *listener) clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		a, _ := netip.ParseAddr(host)
		return a.Unmap()
	}
	return ap.Addr().Unmap()
}
