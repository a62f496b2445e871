// Command seedkeys stores N generated API keys in moat's key store (the
// SQLite file or the PostgreSQL database a moat config uses) and prints
// their plaintexts, one a line, for bench/loadgen -keys. It is for
// benchmarks only: the keys have no limits and no owner.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/store/pgstore"
	"github.com/moat-gw/moat/internal/store/sqlitestore"
)

func main() {
	sqlite := flag.String("sqlite", "", "SQLite file of the key store")
	pg := flag.String("postgres", "", "PostgreSQL DSN of the key store")
	n := flag.Int("n", 10000, "keys to create")
	flag.Parse()
	if err := run(*sqlite, *pg, *n); err != nil {
		fmt.Fprintln(os.Stderr, "seedkeys:", err)
		os.Exit(1)
	}
}

func run(sqlite, pg string, n int) error {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	var put func(context.Context, *auth.Key) error
	switch {
	case sqlite != "":
		s, err := sqlitestore.Open(ctx, sqlite, log)
		if err != nil {
			return err
		}
		defer s.Close()
		put = s.Put
	case pg != "":
		s, err := pgstore.Open(ctx, pg, log)
		if err != nil {
			return err
		}
		defer s.Close()
		put = s.Put
	default:
		return fmt.Errorf("-sqlite or -postgres is required")
	}
	h := auth.NewHasher(nil) // bench configs set no pepper
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	now := time.Now().UTC()
	for i := range n {
		plain, km, err := h.GenerateKey()
		if err != nil {
			return err
		}
		if err := put(ctx, &auth.Key{ID: km.ID, Name: fmt.Sprintf("bench-%d", i), Hash: km.Hash, CreatedAt: now}); err != nil {
			return err
		}
		fmt.Fprintln(w, plain)
	}
	return nil
}
