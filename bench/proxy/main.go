// Command proxy is the reference point for moat's overhead: a bare
// httputil.ReverseProxy with moat's upstream connection pool settings,
// pooled copy buffers and a buffered request body, and nothing else (no
// parsing, authentication, usage capture, metrics or request log). The
// difference between it and a direct call is what any Go reverse proxy
// costs on the machine; the difference between moat and it is what moat's
// own stages cost.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18090", "address to listen on")
	upstream := flag.String("upstream", "http://127.0.0.1:18080", "base URL to forward to")
	pprofAddr := flag.String("pprof", "", "address to serve net/http/pprof on (bench/profile.sh TARGET=proxy); off when empty")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *pprofAddr != "" {
		// The profiling handlers on a listener of their own, never on the
		// proxied one, so the profile is of the proxy's work alone.
		go func() {
			if err := http.ListenAndServe(*pprofAddr, pprofMux()); err != nil {
				fmt.Fprintln(os.Stderr, "proxy: pprof:", err)
			}
		}()
	}
	if err := run(ctx, *addr, *upstream); err != nil {
		fmt.Fprintln(os.Stderr, "proxy:", err)
		os.Exit(1)
	}
}

// pprofMux serves the profiles of net/http/pprof.
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	return mux
}

// buffered reads the request body before forwarding, as moat does to parse
// it and replay it on failover. It is needed for correctness too: a
// ReverseProxy that streams a Content-Length body straight from the client
// races net/http's server, which closes that body when the response headers
// are written; the transport's final read of the body then fails and it
// closes the upstream connection, cutting streamed answers ("read error
// during body copy: use of closed network connection").
func buffered(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 25<<20))
		if err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// bufferPool recycles the proxy's 32 KiB copy buffers, as moat does.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(v []byte) { b.p.Put(&v) }

func run(ctx context.Context, addr, upstream string) error {
	target, err := url.Parse(upstream)
	if err != nil || target.Host == "" {
		return fmt.Errorf("invalid -upstream %q", upstream)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		// The pool settings of moat's upstream transport (internal/upstream).
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        512,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
		},
		BufferPool: newBufferPool(), // moat recycles its copy buffers too
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: buffered(rp), ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("bench proxy serving on http://%s, forwarding to %s\n", ln.Addr(), target)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
