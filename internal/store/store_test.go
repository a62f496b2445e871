package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/kql"
)

func TestOpenSQLite(t *testing.T) {
	ctx := context.Background()
	cfg := &config.Config{DataDir: t.TempDir()}
	if _, err := Open(ctx, cfg, Options{Existing: true}); err == nil || !strings.Contains(err.Error(), "no request log at") {
		t.Fatalf("Existing with no file: %v, want no request log", err)
	}
	st, err := Open(ctx, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, d := KQL(st); d != kql.SQLite {
		t.Errorf("KQL dialect %v, want SQLite", d)
	}
	if ChangeFeed(st) == nil {
		t.Error("SQLite has no change feed; the key cache would trust keys for its short TTL only")
	}
	if err := Optimize(ctx, st); err != nil {
		t.Errorf("Optimize: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(ctx, cfg, Options{Existing: true})
	if err != nil {
		t.Fatalf("Existing after the file was made: %v", err)
	}
	again.Close()
	if got, want := SQLitePath(cfg), filepath.Join(cfg.DataDir, "moat.db"); got != want {
		t.Errorf("SQLitePath = %s, want %s", got, want)
	}
}
