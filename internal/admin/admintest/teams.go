package admintest

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/admin"
	"github.com/moat-gw/moat/internal/team"
)

// testTeamStore checks the team.Store contract: teams by name, members by
// principal, one team per principal, members gone with their team.
func testTeamStore(t *testing.T, h Harness) {
	s, ctx := h.Open(t), context.Background()
	for _, tm := range []team.Team{{Name: "search", Description: "s", CreatedAt: base()}, {Name: "ads", CreatedAt: base()}} {
		if err := s.PutTeam(ctx, tm); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutTeam(ctx, team.Team{Name: "ads", Description: "renamed", CreatedAt: base()}); err != nil {
		t.Fatal(err)
	}
	ts, err := s.ListTeams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []team.Team{{Name: "ads", Description: "renamed", CreatedAt: base()}, {Name: "search", Description: "s", CreatedAt: base()}}
	if diff := cmp.Diff(want, ts); diff != "" {
		t.Errorf("ListTeams (-want +got):\n%s", diff)
	}
	for _, m := range []team.Member{{Principal: "group:g1", Team: "ads", CreatedAt: base()}, {Principal: "app:a1", Team: "search", CreatedAt: base()}, {Principal: "group:g1", Team: "search", CreatedAt: base()}} {
		if err := s.PutMember(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutMember(ctx, team.Member{Principal: "user:u", Team: "nope", CreatedAt: base()}); !errors.Is(err, team.ErrNotFound) {
		t.Errorf("PutMember(unknown team) = %v, want ErrNotFound", err)
	}
	ms, err := s.ListMembers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantM := []team.Member{{Principal: "app:a1", Team: "search", CreatedAt: base()}, {Principal: "group:g1", Team: "search", CreatedAt: base()}}
	if diff := cmp.Diff(wantM, ms); diff != "" {
		t.Errorf("ListMembers (-want +got):\n%s", diff)
	}
	if err := s.DeleteMember(ctx, "app:a1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMember(ctx, "app:a1"); !errors.Is(err, team.ErrNotFound) {
		t.Errorf("DeleteMember twice = %v, want ErrNotFound", err)
	}
	if err := s.DeleteTeam(ctx, "search"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTeam(ctx, "search"); !errors.Is(err, team.ErrNotFound) {
		t.Errorf("DeleteTeam twice = %v, want ErrNotFound", err)
	}
	if ms, err := s.ListMembers(ctx); err != nil || len(ms) != 0 {
		t.Errorf("members after their team was deleted: %v, %v", ms, err)
	}
	k := sampleKey("0000000000t1", 40)
	k.Team = "ads"
	if err := s.Put(ctx, k); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, k.ID); err != nil || got.Team != "ads" {
		t.Errorf("key team round trip = %+v, %v", got, err)
	}
}

// testServiceTeamFlows checks the management flows: a key names an existing
// team, a team with active keys cannot be deleted, every change is audited.
func testServiceTeamFlows(t *testing.T, h Harness) {
	s, ctx := h.Open(t), context.Background()
	changed := 0
	svc := newService(t, s, func(o *admin.Options) { o.Teams = s; o.TeamsChanged = func() { changed++ } })
	c := admin.Caller{Actor: "alice@contoso.com", ClientIP: "10.0.0.1"}
	if _, err := svc.CreateKey(ctx, c, admin.KeyRequest{Name: "k", Team: "search"}); err == nil {
		t.Fatal("key for an unknown team was created")
	} else {
		wantRequestError(t, err, http.StatusNotFound, "search")
	}
	if _, err := svc.CreateTeam(ctx, c, admin.TeamRequest{Name: "Bad Name"}); err == nil {
		t.Fatal("bad team name accepted")
	}
	if _, err := svc.CreateTeam(ctx, c, admin.TeamRequest{Name: "search", Description: "Search"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateTeam(ctx, c, admin.TeamRequest{Name: "search"}); err == nil {
		t.Fatal("duplicate team created")
	} else {
		wantRequestError(t, err, http.StatusConflict)
	}
	nk, err := svc.CreateKey(ctx, c, admin.KeyRequest{Name: "k", Team: "search"})
	if err != nil {
		t.Fatal(err)
	}
	if nk.Key.Team != "search" {
		t.Errorf("key team = %q", nk.Key.Team)
	}
	rg, err := svc.RegenerateKey(ctx, c, nk.Key.ID, admin.RegenerateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if rg.New.Key.Team != "search" {
		t.Errorf("regenerated key lost its team: %q", rg.New.Key.Team)
	}
	if _, err := svc.AddMember(ctx, c, "search", admin.MemberRequest{Principal: "Group:ABC"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddMember(ctx, c, "nope", admin.MemberRequest{Principal: "group:abc"}); err == nil {
		t.Error("member of an unknown team added")
	}
	views, err := svc.ListTeams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(views) != 1 || !cmp.Equal(views[0].Members, []string{"group:abc"}) || !cmp.Equal(views[0].Keys, []string{rg.New.Key.ID}) {
		t.Errorf("ListTeams = %+v", views)
	}
	if err := svc.DeleteTeam(ctx, c, "search"); err == nil {
		t.Fatal("team with an active key deleted")
	} else {
		wantRequestError(t, err, http.StatusConflict, rg.New.Key.ID)
	}
	if err := svc.RemoveMember(ctx, c, "search", "group:abc"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RevokeKey(ctx, c, rg.New.Key.ID); err != nil {
		t.Fatal(err)
	}
	if err := svc.DeleteTeam(ctx, c, "search"); err != nil {
		t.Fatal(err)
	}
	got := actions(t, s)
	wantActions := []string{"team.create search", "key.create " + nk.Key.ID, "key.regenerate " + nk.Key.ID,
		"team.member.add search", "team.member.remove search", "key.revoke " + rg.New.Key.ID, "team.delete search"}
	if diff := cmp.Diff(wantActions, got); diff != "" {
		t.Errorf("audit actions (-want +got):\n%s", diff)
	}
	if changed != 4 {
		t.Errorf("TeamsChanged called %d times, want 4", changed)
	}
}
