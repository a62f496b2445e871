// Command upstream is the fast, fixed-answer model service that moat's
// benchmarks put behind the gateway. It answers every chat-completions call
// with one pre-encoded, Azure-shaped body (usage included), or with a
// pre-encoded event stream, so that a measurement through moat isolates
// moat's own cost instead of an upstream's JSON generation.
//
// It is a benchmark tool, not a simulator: use `moat simulator` when
// realism matters more than a flat baseline.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/moat-gw/moat/bench/fixture"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "address to listen on")
	chunks := flag.Int("chunks", 20, "content chunks per streamed answer")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *chunks); err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr string, chunks int) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: fixture.NewHandler(chunks), ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("bench upstream serving on http://%s\n", ln.Addr())
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
