package proctest

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Forwarder is a TCP forwarder from a loopback port to a target, standing
// where a network fault can be made without touching the target: Refuse
// makes the port refuse connections, Hang makes it accept and pass nothing.
type Forwarder struct {
	tb     testing.TB
	Addr   string // 127.0.0.1:PORT, the same across Refuse and Resume
	target string

	mu     sync.Mutex
	ln     net.Listener
	mode   mode
	resume chan struct{} // closed by Resume to release hung copies
	conns  map[net.Conn]struct{}
	closed bool
}

type mode int

const (
	modePass mode = iota
	modeRefuse
	modeHang
)

// Forward starts a forwarder from a free loopback port to target, closed at
// cleanup.
func Forward(tb testing.TB, target string) *Forwarder {
	tb.Helper()
	f := &Forwarder{tb: tb, Addr: FreeAddr(tb), target: target, resume: make(chan struct{}),
		conns: make(map[net.Conn]struct{})}
	close(f.resume)
	f.mu.Lock()
	err := f.listenLocked()
	f.mu.Unlock()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(f.Close)
	return f
}

func (f *Forwarder) listenLocked() error {
	var err error
	for i := 0; i < 50; i++ { // the port may linger a moment after a close
		var ln net.Listener
		if ln, err = net.Listen("tcp", f.Addr); err == nil {
			f.ln = ln
			go f.accept(ln)
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// Refuse closes the listener and resets every open connection: dials get
// "connection refused" until Resume, as when the database is down.
func (f *Forwarder) Refuse() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = modeRefuse
	if f.ln != nil {
		f.ln.Close()
		f.ln = nil
	}
	for c := range f.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST, not FIN
		}
		c.Close()
		delete(f.conns, c)
	}
	f.releaseLocked()
}

// Hang keeps the port open but passes no byte either way: new connections
// are accepted and left waiting, open ones stall, as when the database
// host hangs.
func (f *Forwarder) Hang() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mode == modeHang {
		return
	}
	f.mode = modeHang
	f.resume = make(chan struct{})
	if f.ln == nil {
		if err := f.listenLocked(); err != nil {
			f.tb.Errorf("forwarder listen: %v", err)
		}
	}
}

// Resume passes traffic again; connections held by Hang carry on.
func (f *Forwarder) Resume() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = modePass
	f.releaseLocked()
	if f.ln == nil && !f.closed {
		if err := f.listenLocked(); err != nil {
			f.tb.Errorf("forwarder listen: %v", err)
		}
	}
}

func (f *Forwarder) releaseLocked() {
	select {
	case <-f.resume:
	default:
		close(f.resume)
	}
}

// Close stops the forwarder and closes every connection.
func (f *Forwarder) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	f.releaseLocked()
	if f.ln != nil {
		f.ln.Close()
		f.ln = nil
	}
	for c := range f.conns {
		c.Close()
		delete(f.conns, c)
	}
}

func (f *Forwarder) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if !f.track(c) {
			c.Close()
			continue
		}
		go f.serve(c)
	}
}

// track registers c; false when the forwarder is closed or refusing.
func (f *Forwarder) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.mode == modeRefuse {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *Forwarder) untrack(cs ...net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range cs {
		delete(f.conns, c)
		c.Close()
	}
}

// gate blocks while the forwarder hangs; false when the connection must
// end instead (refused or closed meanwhile).
func (f *Forwarder) gate() bool {
	for {
		f.mu.Lock()
		m, resume, closed := f.mode, f.resume, f.closed
		f.mu.Unlock()
		switch {
		case closed || m == modeRefuse:
			return false
		case m == modePass:
			return true
		}
		<-resume
	}
}

func (f *Forwarder) serve(client net.Conn) {
	if !f.gate() {
		f.untrack(client)
		return
	}
	upstream, err := net.DialTimeout("tcp", f.target, 5*time.Second)
	if err != nil {
		f.untrack(client)
		return
	}
	if !f.track(upstream) {
		upstream.Close()
		f.untrack(client)
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); f.pipe(upstream, client) }()
	go func() { defer wg.Done(); f.pipe(client, upstream) }()
	wg.Wait()
	f.untrack(client, upstream)
}

// pipe copies src to dst, holding each chunk while the forwarder hangs.
func (f *Forwarder) pipe(dst, src net.Conn) {
	defer func() {
		dst.Close()
		src.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !f.gate() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return
			}
			return
		}
	}
}
