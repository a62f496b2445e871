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

const rolesUsage = `usage: moat roles assign --role ROLE --principal KIND:VALUE [--scope /deployments/NAME] [--config FILE]
       moat roles list [-o table|json] [--config FILE]
       moat roles remove ID [--config FILE]
       moat roles definitions [-o table|json] [--config FILE]`

func runRoles(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, rolesUsage)
		return errUsage
	}
	fs := newFlags("roles "+args[0], stderr)
	path := configFlag(fs)
	switch args[0] {
	case "assign":
		role := fs.String("role", "", `role name or ID, e.g. "Cognitive Services OpenAI User"`)
		principal := fs.String("principal", "", "who: object:<oid>, group:<id>, appRole:<value>, client:<appid> or key:<key id>")
		scope := fs.String("scope", "/", "/ (everything) or /deployments/<name or glob>")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		svc, done, err := openService(ctx, *path, stderr)
		if err != nil {
			return err
		}
		defer done()
		a, err := svc.Assign(ctx, cliCaller(), admin.AssignmentRequest{Role: *role, Principal: *principal, Scope: *scope})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "assignment %s: %q to %s at %s\n", a.ID, a.Role, a.Principal, a.Scope)
		return nil
	case "list":
		out := outputFlag(fs)
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		return rolesList(ctx, *path, out.json(), stdout, stderr)
	case "remove":
		id, err := oneID(fs, args[1:], "usage: moat roles remove ID [--config FILE]")
		if err != nil {
			return err
		}
		svc, done, err := openService(ctx, *path, stderr)
		if err != nil {
			return err
		}
		defer done()
		a, err := svc.Unassign(ctx, cliCaller(), id)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed assignment %s: %q to %s at %s\n", a.ID, a.Role, a.Principal, a.Scope)
		return nil
	case "definitions":
		out := outputFlag(fs)
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		return rolesDefinitions(ctx, *path, out.json(), stdout, stderr)
	default:
		fmt.Fprintln(stderr, rolesUsage)
		return errUsage
	}
}

func rolesList(ctx context.Context, path string, asJSON bool, stdout, stderr io.Writer) error {
	svc, done, err := openService(ctx, path, stderr)
	if err != nil {
		return err
	}
	defer done()
	as, err := svc.ListAssignments(ctx)
	if err != nil {
		return err
	}
	views := make([]admin.AssignmentView, 0, len(as))
	for _, a := range as {
		views = append(views, admin.ViewAssignment(a))
	}
	if asJSON {
		return printJSON(stdout, views)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLE\tPRINCIPAL\tSCOPE\tCREATED\tBY")
	for _, v := range views {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.Role, v.Principal, v.Scope, v.CreatedAt.Format(time.RFC3339), dash(v.CreatedBy))
	}
	return tw.Flush()
}

func rolesDefinitions(ctx context.Context, path string, asJSON bool, stdout, stderr io.Writer) error {
	svc, done, err := openService(ctx, path, stderr)
	if err != nil {
		return err
	}
	defer done()
	defs := svc.RoleDefinitions()
	if asJSON {
		views := make([]admin.RoleView, 0, len(defs))
		for _, d := range defs {
			views = append(views, admin.RoleView{ID: d.ID, Name: d.Name, Description: d.Description,
				DataActions: d.DataActions, NotDataActions: d.NotDataActions, Builtin: admin.IsBuiltinRole(d)})
		}
		return printJSON(stdout, views)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tDATA ACTIONS")
	for _, d := range defs {
		actions := strings.Join(d.DataActions, ", ")
		if len(d.NotDataActions) > 0 {
			actions += " (not " + strings.Join(d.NotDataActions, ", ") + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", d.Name, dash(d.ID), dash(actions))
	}
	return tw.Flush()
}
