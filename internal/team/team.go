// Package team is moat's owner of spend: a team (or project) owns API keys
// and principals, and every call is attributed to one team in the request
// log, in cost metrics and in budgets. Keys carry their team themselves
// (auth.Key.Team, read from the key cache); token principals are mapped to
// a team through members: an Entra group, an application (client) ID or a
// principal's object ID. The stores implement Store; the gateway resolves
// callers through a Directory, a snapshot refreshed in the background, so
// no call reads the store.
package team

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Team is one owner of keys and principals.
type Team struct {
	// Name identifies the team: lower-case letters, digits, '-', '_' and '.'.
	Name        string
	Description string
	CreatedAt   time.Time
}

// Member kinds: what a member selector names.
const (
	KindGroup = "group" // an Entra group object ID (groups claim)
	KindApp   = "app"   // an application (client) ID (appid/azp claim)
	KindUser  = "user"  // a principal's object ID (oid claim)
)

// Member maps one principal selector, "<kind>:<id>", to a team. A selector
// belongs to at most one team.
type Member struct {
	Principal string
	Team      string
	CreatedAt time.Time
}

// ErrNotFound is returned (wrapped) for unknown teams and members.
var ErrNotFound = errors.New("not found")

// Store persists teams and members. The database stores implement it.
type Store interface {
	// ListTeams returns every team by name.
	ListTeams(ctx context.Context) ([]Team, error)
	// PutTeam creates the team or replaces its description.
	PutTeam(ctx context.Context, t Team) error
	// DeleteTeam removes the team and its members; ErrNotFound if unknown.
	DeleteTeam(ctx context.Context, name string) error
	// ListMembers returns every member by principal.
	ListMembers(ctx context.Context) ([]Member, error)
	// PutMember maps the principal to its team, replacing an earlier mapping.
	PutMember(ctx context.Context, m Member) error
	// DeleteMember removes the mapping; ErrNotFound if unknown.
	DeleteMember(ctx context.Context, principal string) error
}

// MaxNameLen bounds team names; they are log columns and metric labels.
const MaxNameLen = 64

// ValidName reports whether name can name a team. The alphabet is narrow
// because a team name is a metric label and a budget's counter key.
func ValidName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("team name: want 1 to %d characters", MaxNameLen)
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("team name %q: only lower-case letters, digits, '-', '_' and '.'", name)
		}
	}
	return nil
}

// ParsePrincipal canonicalizes a member selector "<kind>:<id>": the kind
// is group, app or user, and the ID (an Entra GUID) is lower-cased.
func ParsePrincipal(s string) (string, error) {
	kind, id, ok := strings.Cut(strings.TrimSpace(s), ":")
	kind = strings.ToLower(kind)
	id = strings.ToLower(strings.TrimSpace(id))
	if !ok || id == "" || len(id) > 128 || strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return "", fmt.Errorf("principal %q: want group:<object id>, app:<client id> or user:<object id>", s)
	}
	switch kind {
	case KindGroup, KindApp, KindUser:
		return kind + ":" + id, nil
	}
	return "", fmt.Errorf("principal %q: kind %q is not group, app or user", s, kind)
}

// Caller is what a Directory needs to know about a token principal.
type Caller struct {
	ObjectID string
	AppID    string
	Groups   []string
}

// Resolve returns the team of a caller under members (by principal): its
// own object ID first, then its application, then its groups; with several
// matching groups, the team whose name sorts first, so every replica
// agrees. It returns "" when nothing matches.
func Resolve(members map[string]string, c Caller) string {
	if t := members[KindUser+":"+strings.ToLower(c.ObjectID)]; c.ObjectID != "" && t != "" {
		return t
	}
	if t := members[KindApp+":"+strings.ToLower(c.AppID)]; c.AppID != "" && t != "" {
		return t
	}
	best := ""
	for _, g := range c.Groups {
		if t := members[KindGroup+":"+strings.ToLower(g)]; t != "" && (best == "" || t < best) {
			best = t
		}
	}
	return best
}

// SortMembers orders members by principal, the stores' List order.
func SortMembers(ms []Member) {
	slices.SortFunc(ms, func(a, b Member) int { return strings.Compare(a.Principal, b.Principal) })
}
