package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/moat-gw/moat/internal/admin"
	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/store"
)

const keysUsage = `usage: moat keys create --name N [--owner O] [--team T] [--description D] [--deployments a,b*] [--operations chat,embeddings]
                        [--expires 720h] [--tpm N] [--rpm N] [--config FILE]
       moat keys list [-o table|json] [--config FILE]
       moat keys revoke ID [--config FILE]
       moat keys regenerate ID [--grace 10m] [--expires 720h] [--config FILE]`

// openService loads the config at path and returns the management service
// on its store, with the gateway's key hasher and custom roles. Call the
// returned function to close the store.
func openService(ctx context.Context, path string, stderr io.Writer) (*admin.Service, func(), error) {
	cfg, _, err := loadConfig(path, stderr)
	if err != nil {
		return nil, nil, err
	}
	rc, err := cfg.Auth.RBAC()
	if err != nil {
		return nil, nil, err
	}
	// The SQLite file is created if needed: keys may be made before moat
	// first serves.
	st, err := store.Open(ctx, cfg, store.Options{})
	if err != nil {
		return nil, nil, err
	}
	svc, err := admin.NewService(admin.Options{
		Keys: st, Assignments: st, Audit: st, Teams: st,
		Hasher: cfg.Auth.Hasher(),
		Roles:  rc.Roles,
	})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return svc, func() { st.Close() }, nil
}

// cliCaller is the audit actor for commands run here: "cli:<os user>".
func cliCaller() admin.Caller {
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if name == "" {
		name = os.Getenv("USER")
	}
	if name == "" {
		name = "unknown"
	}
	return admin.Caller{Actor: "cli:" + name}
}

// parseInterleaved parses flags that may come before or after positional
// arguments, and returns the positionals.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// oneID parses flags around exactly one positional ID.
func oneID(fs *flag.FlagSet, args []string, usage string) (string, error) {
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 || strings.TrimSpace(pos[0]) == "" {
		fmt.Fprintln(fs.Output(), usage)
		return "", errUsage
	}
	return pos[0], nil
}

// splitList reads "a, b,c" into [a b c].
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, keysUsage)
		return errUsage
	}
	fs := newFlags("keys "+args[0], stderr)
	path := configFlag(fs)
	switch args[0] {
	case "create":
		return keysCreate(ctx, fs, path, args[1:], stdout, stderr)
	case "list":
		out := outputFlag(fs)
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		return keysList(ctx, *path, out.json(), stdout, stderr)
	case "revoke":
		id, err := oneID(fs, args[1:], "usage: moat keys revoke ID [--config FILE]")
		if err != nil {
			return err
		}
		svc, done, err := openService(ctx, *path, stderr)
		if err != nil {
			return err
		}
		defer done()
		k, err := svc.RevokeKey(ctx, cliCaller(), id)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "key %s (%s) revoked at %s\n", k.ID, k.Name, k.RevokedAt.Format(time.RFC3339))
		return nil
	case "regenerate":
		grace := fs.Duration("grace", 0, "keep the old key working this long, so clients can switch (max 168h)")
		expires := fs.String("expires", "", "new key's lifetime, e.g. 720h or 90d (default: the old key's lifetime)")
		out := outputFlag(fs)
		id, err := oneID(fs, args[1:], "usage: moat keys regenerate ID [--grace 10m] [--expires 720h] [--config FILE]")
		if err != nil {
			return err
		}
		return keysRegenerate(ctx, *path, id, *grace, *expires, out.json(), stdout, stderr)
	default:
		fmt.Fprintln(stderr, keysUsage)
		return errUsage
	}
}

// expiry turns a --expires lifetime into a time; empty means nil.
func expiry(s string, now time.Time) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	d, err := config.ParseDuration(s)
	if err != nil || d <= 0 {
		return nil, fmt.Errorf("--expires %q: want a positive duration such as 720h or 90d", s)
	}
	t := now.Add(d).UTC().Truncate(time.Second)
	return &t, nil
}

func keysCreate(ctx context.Context, fs *flag.FlagSet, path *string, args []string, stdout, stderr io.Writer) error {
	name := fs.String("name", "", "what the key is for (required)")
	owner := fs.String("owner", "", "who is responsible for the key")
	teamName := fs.String("team", "", "the team that owns the key's calls (cost, budgets; see moat teams)")
	desc := fs.String("description", "", "longer description")
	deps := fs.String("deployments", "", "comma-separated deployment names or * globs the key may call (default: all)")
	ops := fs.String("operations", "", "comma-separated operations: chat, completions, embeddings, images, ... (default: all)")
	expires := fs.String("expires", "", "lifetime, e.g. 720h or 90d (default: never expires)")
	tpm := fs.Int("tpm", 0, "tokens per minute for this key (0: no key limit)")
	rpm := fs.Int("rpm", 0, "requests per minute for this key (0: no key limit)")
	out := outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	exp, err := expiry(*expires, time.Now())
	if err != nil {
		return err
	}
	svc, done, err := openService(ctx, *path, stderr)
	if err != nil {
		return err
	}
	defer done()
	nk, err := svc.CreateKey(ctx, cliCaller(), admin.KeyRequest{
		Name: *name, Owner: *owner, Team: *teamName, Description: *desc, Deployments: splitList(*deps), Operations: splitList(*ops),
		ExpiresAt: exp, Limits: admin.Limits{TPM: *tpm, RPM: *rpm},
	})
	if err != nil {
		return err
	}
	return printNewKey(stdout, stderr, nk, out.json())
}

// printNewKey shows a new key's ID and plaintext: the only time anyone sees it.
func printNewKey(stdout, stderr io.Writer, nk *admin.NewKey, asJSON bool) error {
	fmt.Fprintln(stderr, "moat: this is the only time the key is shown; store it in a secret store now.")
	if asJSON {
		return printJSON(stdout, struct {
			ID   string `json:"id"`
			Name string `json:"name"`
			Key  string `json:"key"`
		}{nk.Key.ID, nk.Key.Name, nk.Plaintext})
	}
	fmt.Fprintf(stdout, "id:  %s\nkey: %s\n", nk.Key.ID, nk.Plaintext)
	return nil
}

func keysList(ctx context.Context, path string, asJSON bool, stdout, stderr io.Writer) error {
	svc, done, err := openService(ctx, path, stderr)
	if err != nil {
		return err
	}
	defer done()
	ks, err := svc.ListKeys(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	views := make([]admin.KeyView, 0, len(ks))
	for _, k := range ks {
		views = append(views, admin.ViewKey(k, now))
	}
	if asJSON {
		return printJSON(stdout, views)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tOWNER\tTEAM\tSTATUS\tDEPLOYMENTS\tOPERATIONS\tTPM/RPM\tEXPIRES\tCREATED")
	for _, v := range views {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", v.ID, dash(v.Name), dash(v.Owner), dash(v.Team), v.Status,
			allIfEmpty(v.Deployments), allIfEmpty(v.Operations), v.Limits.TPM, v.Limits.RPM,
			timeOrNever(v.ExpiresAt), v.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

func keysRegenerate(ctx context.Context, path, id string, grace time.Duration, expires string, asJSON bool, stdout, stderr io.Writer) error {
	if grace < 0 || grace%time.Second != 0 {
		return fmt.Errorf("--grace %s: want whole seconds, 0 or more", grace)
	}
	exp, err := expiry(expires, time.Now())
	if err != nil {
		return err
	}
	svc, done, err := openService(ctx, path, stderr)
	if err != nil {
		return err
	}
	defer done()
	rg, err := svc.RegenerateKey(ctx, cliCaller(), id, admin.RegenerateRequest{RevokeOldAfter: int64(grace / time.Second), ExpiresAt: exp})
	if err != nil {
		return err
	}
	if asJSON {
		fmt.Fprintln(stderr, "moat: this is the only time the key is shown; store it in a secret store now.")
		return printJSON(stdout, struct {
			ID       string    `json:"id"`
			Key      string    `json:"key"`
			Replaces string    `json:"replaces"`
			OldUntil time.Time `json:"old_revoked_at"`
		}{rg.New.Key.ID, rg.New.Plaintext, rg.Old.ID, rg.Old.RevokedAt})
	}
	if err := printNewKey(stdout, stderr, rg.New, false); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "replaces: %s (revoked at %s)\n", rg.Old.ID, rg.Old.RevokedAt.Format(time.RFC3339))
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func allIfEmpty(list []string) string {
	if len(list) == 0 {
		return "*"
	}
	return strings.Join(list, ",")
}

func timeOrNever(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.Format(time.RFC3339)
}
