package gateway

import (
	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/team"
)

// spendScope is the per-call state of attribution, cost and budgets: who
// the call is charged to, resolved once from the key cache (the key's
// name, owner and team travel with the cached key) or the team directory's
// snapshot (token principals), never from a store read per call.
type spendScope struct {
	resolved bool
	keyName  string
	owner    string
	team     string
}

// attribute resolves the caller's key name, owner and team once.
func (p *pipeline) attribute(s *scope) *spendScope {
	a := &s.spend
	if a.resolved {
		return a
	}
	a.resolved = true
	pr := s.principal
	if pr == nil {
		return a
	}
	if k := pr.Key(); k != nil {
		a.keyName, a.owner, a.team = k.Name, k.Owner, k.Team
		return a
	}
	if pr.Type == auth.TypeEntra || pr.Type == auth.TypeOIDC {
		a.team = p.teams.Team(team.Caller{ObjectID: pr.ObjectID(), AppID: pr.AppID, Groups: pr.Groups})
	}
	return a
}

// spendRecord writes attribution (and, later, cost) into the call's record.
func (p *pipeline) spendRecord(s *scope, rec *reqlog.Record) {
	a := p.attribute(s)
	rec.KeyName, rec.Owner, rec.Team = a.keyName, a.owner, a.team
}
