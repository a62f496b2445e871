package netns_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the programs that run inside the namespaces:
// `ip netns exec NS <test binary>` with envHelper set runs one of these roles
// instead of the tests, so the suite needs nothing but itself, ip and moat.
const (
	envHelper = "MOAT_NETNS_HELPER" // "agent" or "proxy"
	envSpec   = "MOAT_NETNS_SPEC"   // the role's JSON input
)

func TestMain(m *testing.M) {
	if role := os.Getenv(envHelper); role != "" {
		os.Exit(runHelper(role, os.Getenv(envSpec)))
	}
	os.Exit(m.Run())
}

func runHelper(role, spec string) int {
	var err error
	switch role {
	case "agent":
		err = runAgent(os.Stdin, os.Stdout)
	case "proxy":
		var fs []forward
		if err = json.Unmarshal([]byte(spec), &fs); err == nil {
			err = runProxies(fs, os.Stdin, os.Stdout)
		}
	default:
		err = fmt.Errorf("unknown helper role %q", role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "netns helper %s: %v\n", role, err)
		return 2
	}
	return 0
}

// agentMsg is one line between the test and an agent: a request in, body
// lines (for streams) and the final response out, matched by ID.
type agentMsg struct {
	ID       int       `json:"id"`
	Request  *request  `json:"request,omitempty"`
	Line     *string   `json:"line,omitempty"`
	Response *response `json:"response,omitempty"`
}

// runAgent makes the calls it reads from in, concurrently, until in closes.
// One agent per client namespace keeps process starts out of every call.
func runAgent(in io.Reader, out io.Writer) error {
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	emit := func(m agentMsg) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(m)
	}
	pools := &pools{m: map[string]*http.Transport{}}
	var wg sync.WaitGroup
	defer wg.Wait()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var m agentMsg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m.Request == nil {
			return fmt.Errorf("bad agent input %q: %v", sc.Text(), err)
		}
		wg.Go(func() {
			onLine := func(line string) { emit(agentMsg{ID: m.ID, Line: &line}) }
			if !m.Request.Stream {
				onLine = nil
			}
			resp := do(*m.Request, pools, onLine)
			emit(agentMsg{ID: m.ID, Response: &resp})
		})
	}
	return sc.Err()
}

// request is one HTTP call made by an agent from inside a namespace.
type request struct {
	Method string      `json:"method"`
	URL    string      `json:"url"`
	Header http.Header `json:"header,omitempty"`
	Body   string      `json:"body,omitempty"`
	// LocalIP binds the client's source address (one namespace may hold several).
	LocalIP string `json:"local_ip,omitempty"`
	// Preamble is written on the connection before the request: a forged
	// PROXY protocol header.
	Preamble []byte `json:"preamble,omitempty"`
	// Stream prints every body line as it arrives, so the test can act
	// while the call is in flight.
	Stream bool `json:"stream,omitempty"`
	// KeepAlive names a connection pool kept across calls; empty means a
	// new connection for this call only.
	KeepAlive string `json:"keep_alive,omitempty"`
}

// response is what the agent saw. Err is set when no HTTP answer came.
type response struct {
	Status  int         `json:"status"`
	Header  http.Header `json:"header,omitempty"`
	Body    string      `json:"body,omitempty"`
	Err     string      `json:"err,omitempty"`
	Refused bool        `json:"refused,omitempty"`
	// Reused says the call went over a connection an earlier call opened.
	Reused bool `json:"reused,omitempty"`
}

// pools are an agent's keep-alive transports, by request.KeepAlive.
type pools struct {
	mu sync.Mutex
	m  map[string]*http.Transport
}

// transport returns the transport for r: a pooled one for r.KeepAlive, or
// a new one for this call, to close when done.
func (p *pools) transport(r request) (tr *http.Transport, done func(), err error) {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if r.LocalIP != "" {
		a, err := netip.ParseAddr(r.LocalIP)
		if err != nil {
			return nil, nil, fmt.Errorf("local ip: %w", err)
		}
		dialer.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, 0))
	}
	newTransport := func() *http.Transport {
		return &http.Transport{
			DisableKeepAlives: r.KeepAlive == "",
			Proxy:             nil,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := dialer.DialContext(ctx, network, addr)
				if err != nil || len(r.Preamble) == 0 {
					return c, err
				}
				if _, err := c.Write(r.Preamble); err != nil {
					c.Close()
					return nil, fmt.Errorf("write preamble: %w", err)
				}
				return c, nil
			},
		}
	}
	if r.KeepAlive == "" {
		tr := newTransport()
		return tr, tr.CloseIdleConnections, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m[r.KeepAlive] == nil {
		p.m[r.KeepAlive] = newTransport()
	}
	return p.m[r.KeepAlive], func() {}, nil
}

// do makes one call; onLine, if not nil, sees each body line as it arrives.
func do(r request, p *pools, onLine func(string)) response {
	tr, done, err := p.transport(r)
	if err != nil {
		return response{Err: err.Error()}
	}
	defer done()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var reused bool
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
	})
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, strings.NewReader(r.Body))
	if err != nil {
		return response{Err: "build request: " + err.Error()}
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	res, err := client.Do(req)
	if err != nil {
		return response{Err: err.Error(), Refused: errors.Is(err, syscall.ECONNREFUSED)}
	}
	defer res.Body.Close()
	got := response{Status: res.StatusCode, Header: res.Header, Reused: reused}
	var body strings.Builder
	br := bufio.NewReader(res.Body)
	for {
		line, err := br.ReadString('\n')
		body.WriteString(line)
		if onLine != nil && line != "" {
			onLine(line)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			got.Err = "read body: " + err.Error()
			break
		}
	}
	got.Body = body.String()
	return got
}

// forward is one listener of the proxy role. Kind "http" is a reverse proxy
// that appends the client to X-Forwarded-For and passes Forwarded through,
// as nginx does with proxy_add_x_forwarded_for; "proxy_v2" is a TCP balancer that prefixes each connection with a
// PROXY protocol v2 header naming the client.
type forward struct {
	Kind   string `json:"kind"`
	Listen string `json:"listen"`
	Target string `json:"target"` // URL for http, host:port for proxy_v2
}

// runProxies serves every forward until stdin closes (the test ended or
// died), after printing "ready" once all of them listen.
func runProxies(fs []forward, stdin io.Reader, out io.Writer) error {
	for _, f := range fs {
		ln, err := net.Listen("tcp", f.Listen)
		if err != nil {
			return fmt.Errorf("listen %s: %w", f.Listen, err)
		}
		switch f.Kind {
		case "http":
			target, err := url.Parse(f.Target)
			if err != nil {
				return fmt.Errorf("target: %w", err)
			}
			rp := &httputil.ReverseProxy{
				Rewrite: func(pr *httputil.ProxyRequest) {
					pr.SetURL(target)
					pr.SetXForwarded() // appends the client to any inbound X-Forwarded-For
					// Like nginx, pass on the Forwarded header it does not
					// write (Rewrite starts without it).
					if v := pr.In.Header.Values("Forwarded"); len(v) > 0 {
						pr.Out.Header["Forwarded"] = v
					}
				},
				FlushInterval: -1,
				// A new connection per call: moat restarts between modes.
				Transport: &http.Transport{DisableKeepAlives: true},
			}
			go func() { _ = http.Serve(ln, rp) }()
		case "proxy_v2":
			go serveProxyV2(ln, f.Target)
		default:
			return fmt.Errorf("unknown forward kind %q", f.Kind)
		}
	}
	if _, err := fmt.Fprintln(out, "ready"); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, stdin)
	return nil
}

func serveProxyV2(ln net.Listener, target string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			up, err := net.DialTimeout("tcp", target, 5*time.Second)
			if err != nil {
				return
			}
			defer up.Close()
			src := c.RemoteAddr().(*net.TCPAddr).AddrPort()
			dst := c.LocalAddr().(*net.TCPAddr).AddrPort()
			if _, err := up.Write(proxyV2Header(src, dst)); err != nil {
				return
			}
			done := make(chan struct{})
			go func() {
				_, _ = io.Copy(up, c)
				if tc, ok := up.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
				close(done)
			}()
			_, _ = io.Copy(c, up)
			<-done
		}()
	}
}

// proxyV2Header encodes a PROXY protocol v2 header (HAProxy's
// proxy-protocol.txt §2.2) for a TCP connection from src to dst.
func proxyV2Header(src, dst netip.AddrPort) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	b = append(b, 0x21) // version 2, PROXY
	s, d := src.Addr().Unmap(), dst.Addr().Unmap()
	if s.Is4() && d.Is4() {
		b = append(b, 0x11) // TCP over IPv4
		b = binary.BigEndian.AppendUint16(b, 12)
		b = append(b, s.AsSlice()...)
		b = append(b, d.AsSlice()...)
	} else {
		b = append(b, 0x21) // TCP over IPv6
		b = binary.BigEndian.AppendUint16(b, 36)
		s16, d16 := src.Addr().As16(), dst.Addr().As16()
		b = append(b, s16[:]...)
		b = append(b, d16[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, dst.Port())
}
