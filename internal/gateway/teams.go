package gateway

import (
	"context"
	"log/slog"
	"time"

	"github.com/moat-gw/moat/internal/team"
)

// newTeamDirectory loads the team members from the store, so the first
// calls are attributed; a store that fails now is retried by Directory.Run.
func newTeamDirectory(ctx context.Context, st team.Store, log *slog.Logger) *team.Directory {
	d := team.NewDirectory(st, log)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := d.Reload(ctx); err != nil {
		log.Warn("load team members; retrying in the background", "err", err)
	}
	return d
}
