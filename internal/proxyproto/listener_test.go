package proxyproto

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

var (
	loopback  = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	elsewhere = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
)

// clientWait bounds how long a test client waits for the server. It is a
// safety net against hangs, not a timing assertion.
const clientWait = 10 * time.Second

// serve starts a proxyproto listener on 127.0.0.1 whose server reads one
// line per connection and answers "<RemoteAddr> <PeerAddr> <len(line)>".
func serve(t *testing.T, opts Options) net.Addr {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := NewListener(inner, opts)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					return
				}
				pc := c.(*Conn)
				fmt.Fprintf(c, "%s %s %d\n", pc.RemoteAddr(), pc.PeerAddr(), len(line))
			}()
		}
	}()
	return ln.Addr()
}

// roundTrip dials addr, sends the chunks in separate writes and returns the
// server's answer, or "closed" if the server closed the connection.
func roundTrip(t *testing.T, addr net.Addr, chunks ...[]byte) (reply string, local string) {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(clientWait))
	for _, ch := range chunks {
		if _, err := c.Write(ch); err != nil {
			return "closed", c.LocalAddr().String()
		}
	}
	b, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset") {
			return "closed", c.LocalAddr().String()
		}
		t.Fatalf("read reply: %v", err)
	}
	return strings.TrimSuffix(b, "\n"), c.LocalAddr().String()
}

func TestListener(t *testing.T) {
	payload := []byte("hello\n")
	big := append(bytes.Repeat([]byte("x"), 10000), '\n')
	tests := []struct {
		name   string
		opts   Options
		chunks [][]byte
		// want is the reply; "SOCKET" stands for the client's own address.
		want string
	}{
		{name: "v1 TCP4", opts: Options{Trusted: loopback},
			chunks: [][]byte{append(v1(src4, dst4), payload...)}, want: "203.0.113.7:4711 SOCKET 6"},
		{name: "v1 TCP6", opts: Options{Trusted: loopback},
			chunks: [][]byte{append(v1(src6, dst6), payload...)}, want: "[2001:db8::7]:4711 SOCKET 6"},
		{name: "v1 UNKNOWN keeps socket address", opts: Options{Trusted: loopback},
			chunks: [][]byte{[]byte("PROXY UNKNOWN\r\n"), payload}, want: "SOCKET SOCKET 6"},
		{name: "v2 TCP4", opts: Options{Trusted: loopback, Required: true},
			chunks: [][]byte{append(v2(1, 0x11, src4, dst4, nil), payload...)}, want: "203.0.113.7:4711 SOCKET 6"},
		{name: "v2 TCP6 with TLVs", opts: Options{Trusted: loopback},
			chunks: [][]byte{append(v2(1, 0x21, src6, dst6, tlvs), payload...)}, want: "[2001:db8::7]:4711 SOCKET 6"},
		{name: "v2 LOCAL keeps socket address", opts: Options{Trusted: loopback, Required: true},
			chunks: [][]byte{v2(0, 0x00, src4, dst4, nil), payload}, want: "SOCKET SOCKET 6"},
		{name: "header byte by byte", opts: Options{Trusted: loopback},
			chunks: splitBytes(append(v2(1, 0x11, src4, dst4, tlvs), payload...)), want: "203.0.113.7:4711 SOCKET 6"},
		{name: "large payload after header", opts: Options{Trusted: loopback},
			chunks: [][]byte{append(v1(src4, dst4), big...)}, want: "203.0.113.7:4711 SOCKET 10001"},
		{name: "trusted peer without header passes", opts: Options{Trusted: loopback},
			chunks: [][]byte{payload}, want: "SOCKET SOCKET 6"},
		{name: "trusted peer without required header", opts: Options{Trusted: loopback, Required: true},
			chunks: [][]byte{payload}, want: "closed"},
		{name: "untrusted peer without header passes", opts: Options{Trusted: elsewhere},
			chunks: [][]byte{big}, want: "SOCKET SOCKET 10001"},
		{name: "empty Trusted trusts nobody", opts: Options{},
			chunks: [][]byte{append(v1(src4, dst4), payload...)}, want: "closed"},
		{name: "untrusted peer sends v1", opts: Options{Trusted: elsewhere},
			chunks: [][]byte{append(v1(src4, dst4), payload...)}, want: "closed"},
		{name: "untrusted peer sends v2", opts: Options{Trusted: elsewhere},
			chunks: [][]byte{append(v2(1, 0x11, src4, dst4, nil), payload...)}, want: "closed"},
		{name: "untrusted peer on required listener", opts: Options{Trusted: elsewhere, Required: true},
			chunks: [][]byte{append(v1(src4, dst4), payload...)}, want: "closed"},
		{name: "malformed v1", opts: Options{Trusted: loopback},
			chunks: [][]byte{[]byte("PROXY TCP4 1.2.3.4 nope 1 2\r\n"), payload}, want: "closed"},
		{name: "malformed v2", opts: Options{Trusted: loopback},
			chunks: [][]byte{v2(1, 0x12, src4, dst4, nil), payload}, want: "closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := serve(t, tt.opts)
			got, local := roundTrip(t, addr, tt.chunks...)
			if want := strings.ReplaceAll(tt.want, "SOCKET", local); got != want {
				t.Errorf("reply = %q, want %q", got, want)
			}
		})
	}
}

func splitBytes(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}

// TestSlowClientDoesNotBlockOthers keeps one connection silent, and another
// half-way through its header, while a third completes.
func TestSlowClientDoesNotBlockOthers(t *testing.T) {
	addr := serve(t, Options{Trusted: loopback, HeaderTimeout: time.Hour})
	silent, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	partial, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer partial.Close()
	if _, err := partial.Write([]byte("PROXY TCP4 1.2")); err != nil {
		t.Fatal(err)
	}
	got, local := roundTrip(t, addr, append(v1(src4, dst4), "hi\n"...))
	if want := "203.0.113.7:4711 " + local + " 3"; got != want {
		t.Errorf("reply = %q, want %q", got, want)
	}
}

func TestHeaderTimeoutClosesConnection(t *testing.T) {
	addr := serve(t, Options{Trusted: loopback, HeaderTimeout: time.Millisecond})
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(clientWait))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("silent connection read = %v, want it closed by the server", err)
	}
}

func TestCloseReleasesPendingAndAccept(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := NewListener(inner, Options{Trusted: loopback, HeaderTimeout: time.Hour})
	pending, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer pending.Close()
	acceptErr := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		acceptErr <- err
	}()
	if err := ln.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-acceptErr; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
	}
	_ = pending.SetReadDeadline(time.Now().Add(clientWait))
	if _, err := pending.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("connection waiting for its header read = %v after Close, want it closed", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Accept after Close = %v, want net.ErrClosed", err)
	}
}

// TestHTTPServer checks the intended use: http.Server sees the client named
// by the header in Request.RemoteAddr, also from ConnContext.
func TestHTTPServer(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := NewListener(inner, Options{Trusted: loopback, Required: true})
	type ctxKey struct{}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s", r.RemoteAddr, r.Context().Value(ctxKey{}))
		}),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, ctxKey{}, c.RemoteAddr().String())
		},
		ReadHeaderTimeout: clientWait,
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(clientWait))
	req := "GET / HTTP/1.1\r\nHost: moat\r\nConnection: close\r\n\r\n"
	if _, err := c.Write(append(v2(1, 0x21, src6, dst6, tlvs), req...)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if want := "[2001:db8::7]:4711 [2001:db8::7]:4711"; string(body) != want {
		t.Errorf("body = %q, want %q", body, want)
	}
}
