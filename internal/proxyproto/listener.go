// Package proxyproto accepts connections that a TCP load balancer prefixes
// with a PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and
// 2), so that network policy sees the original client instead of the
// balancer.
//
// Headers are read in a goroutine per connection, before Accept returns the
// connection: a slow or silent client never blocks Accept for others, and
// RemoteAddr is final (and never blocks) by the time the HTTP server sees the
// connection, so http.Server's ConnContext and ConnState hooks may use it.
//
// Only peers in Options.Trusted may send a header. A header from any other
// peer is a spoofing attempt and closes the connection; without a header such
// a connection passes through unchanged.
package proxyproto

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// DefaultHeaderTimeout bounds the wait for a connection's first bytes when
// Options.HeaderTimeout is zero. Balancers send the header at once, so it
// only has to outlast network hiccups, not clients.
const DefaultHeaderTimeout = 5 * time.Second

// Options configures a PROXY protocol listener.
type Options struct {
	// Trusted are the peers (the load balancers) allowed to send a header.
	// Empty trusts nobody; list 0.0.0.0/0 and ::/0 to trust everyone.
	Trusted []netip.Prefix
	// Required closes connections without a header, including every
	// connection from an untrusted peer, for listeners that only a balancer
	// may reach.
	Required bool
	// HeaderTimeout bounds the wait for the first bytes and the header; zero
	// means DefaultHeaderTimeout. A connection that times out is closed.
	HeaderTimeout time.Duration
	// Logger receives rejected connections; nil discards them.
	Logger *slog.Logger
}

// Errors that close a connection, for logs.
var (
	errUntrustedHeader = errors.New("PROXY header from an untrusted peer")
	errUntrustedPeer   = errors.New("untrusted peer on a listener that requires a PROXY header")
	errMissingHeader   = errors.New("missing PROXY header")
)

type accepted struct {
	conn net.Conn
	err  error
}

type listener struct {
	inner   net.Listener
	opts    Options
	log     *slog.Logger
	results chan accepted
	done    chan struct{}

	mu      sync.Mutex
	closed  bool
	pending map[net.Conn]struct{} // connections whose header is being read
}

// NewListener wraps inner so that its connections are *Conn values whose
// RemoteAddr is the client named by the PROXY header. Close stops the
// accepting goroutine and closes connections still waiting for a header.
func NewListener(inner net.Listener, opts Options) net.Listener {
	if opts.HeaderTimeout <= 0 {
		opts.HeaderTimeout = DefaultHeaderTimeout
	}
	opts.Trusted = slices.Clone(opts.Trusted)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &listener{
		inner:   inner,
		opts:    opts,
		log:     log,
		results: make(chan accepted),
		done:    make(chan struct{}),
		pending: make(map[net.Conn]struct{}),
	}
	go l.acceptLoop()
	return l
}

// Accept returns the next connection whose header has been read.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case r := <-l.results:
		return r.conn, r.err
	case <-l.done:
		return nil, fmt.Errorf("proxyproto accept: %w", net.ErrClosed)
	}
}

// Close closes the inner listener and every connection still in its header.
func (l *listener) Close() error {
	l.shutdown()
	return l.inner.Close()
}

// Addr returns the inner listener's address.
func (l *listener) Addr() net.Addr { return l.inner.Addr() }

func (l *listener) shutdown() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	close(l.done)
	for c := range l.pending {
		_ = c.Close()
	}
	l.pending = nil
}

func (l *listener) acceptLoop() {
	for {
		c, err := l.inner.Accept()
		if err != nil {
			// Pass every error on, temporary ones included: http.Server
			// backs off before it calls Accept again, which paces this loop.
			select {
			case l.results <- accepted{err: err}:
			case <-l.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				l.shutdown()
				return
			}
			continue
		}
		l.mu.Lock()
		closed := l.closed
		if !closed {
			l.pending[c] = struct{}{}
		}
		l.mu.Unlock()
		if closed {
			_ = c.Close()
			return
		}
		go l.handshake(c)
	}
}

func (l *listener) handshake(c net.Conn) {
	pc, err := l.prepare(c)
	l.mu.Lock()
	delete(l.pending, c)
	l.mu.Unlock()
	if err != nil {
		level := slog.LevelDebug // timeouts, resets, scanners
		if errors.Is(err, errMalformed) || errors.Is(err, errUntrustedHeader) || errors.Is(err, errMissingHeader) {
			level = slog.LevelWarn
		}
		l.log.LogAttrs(context.Background(), level, "proxyproto: connection rejected",
			slog.String("peer", c.RemoteAddr().String()), slog.String("local", c.LocalAddr().String()),
			slog.String("error", err.Error()))
		_ = c.Close()
		return
	}
	select {
	case l.results <- accepted{conn: pc}:
	case <-l.done:
		_ = c.Close()
	}
}

// prepare reads the header, if any, under HeaderTimeout and wraps c.
func (l *listener) prepare(c net.Conn) (*Conn, error) {
	trusted := false
	if peer, ok := peerAddr(c); ok {
		for _, p := range l.opts.Trusted {
			if p.Contains(peer) {
				trusted = true
				break
			}
		}
	}
	if !trusted && l.opts.Required {
		return nil, errUntrustedPeer
	}
	if err := c.SetReadDeadline(time.Now().Add(l.opts.HeaderTimeout)); err != nil {
		return nil, fmt.Errorf("set header deadline: %w", err)
	}
	br := bufio.NewReaderSize(c, 256)
	version, err := sniff(br)
	if err != nil {
		return nil, err
	}
	pc := &Conn{Conn: c, remote: c.RemoteAddr()}
	switch {
	case version != 0 && !trusted:
		return nil, errUntrustedHeader
	case version == 0 && l.opts.Required:
		return nil, errMissingHeader
	case version != 0:
		h, err := readHeader(br, version)
		if err != nil {
			return nil, err
		}
		pc.header = &h
		if h.Command == CommandProxy && h.Source.IsValid() {
			pc.remote = net.TCPAddrFromAddrPort(h.Source)
		}
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("clear header deadline: %w", err)
	}
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		pc.rest = bytes.Clone(b)
	}
	return pc, nil
}

// peerAddr returns c's remote IP, unmapped and without zone, so that one
// IPv4 prefix in Trusted matches on dual-stack sockets too.
func peerAddr(c net.Conn) (netip.Addr, bool) {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		a, ok := netip.AddrFromSlice(ta.IP)
		return a.Unmap(), ok
	}
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap().WithZone(""), true
}

// Conn is an accepted connection. It replays bytes read past the header and
// reports the original client as its RemoteAddr.
type Conn struct {
	net.Conn
	header *Header
	remote net.Addr

	mu   sync.Mutex
	rest []byte // bytes read past the header, served before the socket
}

// Read reads the bytes that followed the header, then the socket.
func (c *Conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.rest) > 0 {
		n := copy(p, c.rest)
		c.rest = c.rest[n:]
		if len(c.rest) == 0 {
			c.rest = nil
		}
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}

// RemoteAddr returns the header's source for a relayed connection, and the
// socket peer otherwise (no header, LOCAL, UNKNOWN or unspecified family).
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// PeerAddr returns the socket peer, the load balancer when a header was sent.
func (c *Conn) PeerAddr() net.Addr { return c.Conn.RemoteAddr() }

// Header returns the header the peer sent, and false if it sent none.
func (c *Conn) Header() (Header, bool) {
	if c.header == nil {
		return Header{}, false
	}
	return *c.header, true
}

// NetConn returns the underlying connection, as tls.Conn.NetConn does.
func (c *Conn) NetConn() net.Conn { return c.Conn }
