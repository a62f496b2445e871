package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/moat-gw/moat/internal/admin"
)

const teamsUsage = `usage: moat teams create NAME [--description D] [--config FILE]
       moat teams list [-o table|json] [--config FILE]
       moat teams delete NAME [--config FILE]
       moat teams add-principal NAME group:<object id>|app:<client id>|user:<object id> [--config FILE]
       moat teams remove-principal NAME PRINCIPAL [--config FILE]

A team owns API keys (moat keys create --team NAME) and token principals: a
caller whose Entra group, application or object ID is a team principal is
logged, costed and budgeted under that team. Every change is audited.`

func runTeams(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, teamsUsage)
		return errUsage
	}
	fs := newFlags("teams "+args[0], stderr)
	path := configFlag(fs)
	open := func() (*admin.Service, func(), error) { return openService(ctx, *path, stderr) }
	switch args[0] {
	case "create":
		desc := fs.String("description", "", "what the team is")
		name, err := oneID(fs, args[1:], "usage: moat teams create NAME [--description D] [--config FILE]")
		if err != nil {
			return err
		}
		svc, done, err := open()
		if err != nil {
			return err
		}
		defer done()
		t, err := svc.CreateTeam(ctx, cliCaller(), admin.TeamRequest{Name: name, Description: *desc})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "team %s created\n", t.Name)
		return nil
	case "list":
		out := outputFlag(fs)
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		svc, done, err := open()
		if err != nil {
			return err
		}
		defer done()
		ts, err := svc.ListTeams(ctx)
		if err != nil {
			return err
		}
		if out.json() {
			return printJSON(stdout, ts)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tDESCRIPTION\tKEYS\tPRINCIPALS\tCREATED")
		for _, t := range ts {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", t.Name, dash(t.Description), len(t.Keys),
				dash(strings.Join(t.Members, ",")), t.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	case "delete":
		name, err := oneID(fs, args[1:], "usage: moat teams delete NAME [--config FILE]")
		if err != nil {
			return err
		}
		svc, done, err := open()
		if err != nil {
			return err
		}
		defer done()
		if err := svc.DeleteTeam(ctx, cliCaller(), name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "team %s deleted\n", name)
		return nil
	case "add-principal", "remove-principal":
		pos, err := parseInterleaved(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 2 {
			fmt.Fprintln(stderr, teamsUsage)
			return errUsage
		}
		svc, done, err := open()
		if err != nil {
			return err
		}
		defer done()
		if args[0] == "remove-principal" {
			if err := svc.RemoveMember(ctx, cliCaller(), pos[0], pos[1]); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s removed from team %s\n", pos[1], pos[0])
			return nil
		}
		p, err := svc.AddMember(ctx, cliCaller(), pos[0], admin.MemberRequest{Principal: pos[1]})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s added to team %s\n", p, pos[0])
		return nil
	default:
		fmt.Fprintln(stderr, teamsUsage)
		return errUsage
	}
}
