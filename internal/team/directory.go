package team

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// DefaultRefresh is how often a Directory reloads members from its store:
// a membership change made on another replica applies here within it.
const DefaultRefresh = 30 * time.Second

// Directory answers "which team is this caller in" from an in-memory
// snapshot of the members, so that no call reads the store. Run keeps it
// fresh; Reload applies a change made on this replica at once.
type Directory struct {
	store Store
	log   *slog.Logger
	snap  atomic.Pointer[map[string]string]
}

// NewDirectory returns an empty directory over st (nil gives one that
// never matches).
func NewDirectory(st Store, log *slog.Logger) *Directory {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Directory{store: st, log: log}
	empty := map[string]string{}
	d.snap.Store(&empty)
	return d
}

// Reload reads the members from the store and swaps the snapshot in; on
// error the old snapshot stays.
func (d *Directory) Reload(ctx context.Context) error {
	if d == nil || d.store == nil {
		return nil
	}
	ms, err := d.store.ListMembers(ctx)
	if err != nil {
		return err
	}
	m := make(map[string]string, len(ms))
	for _, x := range ms {
		m[x.Principal] = x.Team
	}
	d.snap.Store(&m)
	return nil
}

// Run reloads every interval (DefaultRefresh if zero) until ctx ends.
func (d *Directory) Run(ctx context.Context, interval time.Duration) {
	if d == nil || d.store == nil {
		return
	}
	if interval <= 0 {
		interval = DefaultRefresh
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := d.Reload(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn("reload team members", "err", err)
			}
		}
	}
}

// Team returns c's team, or "".
func (d *Directory) Team(c Caller) string {
	if d == nil {
		return ""
	}
	return Resolve(*d.snap.Load(), c)
}
