package admin_test

import (
	"strings"
	"testing"

	"github.com/moat-gw/moat/internal/admin"
	"github.com/moat-gw/moat/internal/team"
)

// TestTeamRoutes walks the team routes over HTTP: create, a principal,
// list, a key that names the team, the refused delete, and the
// permissions (Moat/teams/read and write).
func TestTeamRoutes(t *testing.T) {
	f := newFixture(t, func(o *admin.Options) { o.Teams = o.Keys.(team.Store) })
	const a = "admin@contoso.com"
	steps := []struct {
		actor, method, path, body string
		status                    int
		contains                  string
	}{
		{a, "POST", "/admin/teams", `{"name":"search","description":"Search"}`, 201, `"name":"search"`},
		{a, "POST", "/admin/teams", `{"name":"search"}`, 409, "TeamExists"},
		{a, "POST", "/admin/teams", `{"name":"Bad Name"}`, 400, "lower-case"},
		{a, "POST", "/admin/teams/search/members", `{"principal":"group:G1"}`, 201, `"principal":"group:g1"`},
		{a, "POST", "/admin/teams/nope/members", `{"principal":"group:g2"}`, 404, "does not exist"},
		{a, "POST", "/admin/keys", `{"name":"ranker","team":"search"}`, 201, `"team":"search"`},
		{a, "GET", "/admin/teams", "", 200, `"members":["group:g1"]`},
		{"reader@contoso.com", "GET", "/admin/teams", "", 401, "Moat/teams/read"},
		{a, "DELETE", "/admin/teams/search", "", 409, "TeamHasKeys"},
		{a, "DELETE", "/admin/teams/search/members/group:g1", "", 204, ""},
		{a, "DELETE", "/admin/teams/search/members/group:g1", "", 404, "not a member"},
	}
	for _, st := range steps {
		status, _, body := f.call(t, st.actor, st.method, st.path, st.body)
		if status != st.status || !strings.Contains(body, st.contains) {
			t.Fatalf("%s %s as %s: %d %s (want %d, %q)", st.method, st.path, st.actor, status, body, st.status, st.contains)
		}
	}
}
