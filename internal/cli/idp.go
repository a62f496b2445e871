package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/moat-gw/moat/internal/idp"
)

// identityFlag collects --identity name=clientID:objectID values.
type identityFlag []idp.Identity

func (f *identityFlag) String() string { return fmt.Sprint(len(*f), " identities") }

func (f *identityFlag) Set(v string) error {
	name, ids, ok := strings.Cut(v, "=")
	client, object, ok2 := strings.Cut(ids, ":")
	if !ok || !ok2 || name == "" || client == "" || object == "" {
		return errors.New("want name=clientID:objectID")
	}
	*f = append(*f, idp.Identity{Name: name, ClientID: client, ObjectID: object, Managed: true})
	return nil
}

// runIDP serves the development token issuer: OIDC discovery, JWKS, client
// credentials and the App Service managed-identity protocol, so keyless
// flows can be tried with no Entra ID. Never for production.
func runIDP(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("idp", stderr)
	addr := fs.String("addr", "127.0.0.1:8090", "address to listen on")
	tenant := fs.String("tenant", "00000000-0000-0000-0000-0000000000aa", "tenant ID put in tokens (tid, iss)")
	keyFile := fs.String("key-file", "", "PEM RSA signing key (default: a new key each start)")
	var ids identityFlag
	fs.Var(&ids, "identity", "managed identity name=clientID:objectID (repeatable; the first is the system-assigned one)")
	var users userFlag
	fs.Var(&users, "user", "user who can sign in, upn=objectID (repeatable; needs --app)")
	var apps appFlag
	fs.Var(&apps, "app", "web application signing users in with code+PKCE, clientID=redirectURI (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if len(ids) == 0 {
		ids = identityFlag{{Name: "vm", ClientID: "11111111-1111-1111-1111-111111111111",
			ObjectID: "22222222-2222-2222-2222-222222222222", Managed: true}}
	}
	if len(apps) > 0 && len(users) == 0 {
		users = userFlag{{Name: "alice", UPN: "alice@contoso.com", ObjectID: "33333333-3333-3333-3333-333333333333"}}
	}
	opts := idp.Options{TenantID: *tenant, Identities: append(ids, apps...), Users: users, SystemAssigned: ids[0].ClientID,
		Logger: slog.New(slog.NewTextHandler(stderr, nil))}
	if *keyFile != "" {
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			return fmt.Errorf("read key: %w", err)
		}
		if opts.Key, err = idp.ParsePrivateKeyPEM(b); err != nil {
			return err
		}
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	opts.IdentityHeader = hex.EncodeToString(secret)
	iss, err := idp.New(opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "moat idp (development only) issuing tokens for tenant %s on %s\n", *tenant, base)
	fmt.Fprintf(stdout, "\nFor clients (azidentity ManagedIdentityCredential / DefaultAzureCredential):\n"+
		"  export IDENTITY_ENDPOINT=%s%s IDENTITY_HEADER=%s\n", base, idp.MSIPath, opts.IdentityHeader)
	fmt.Fprintf(stdout, "\nFor moat's config:\n  auth:\n    issuers:\n      - {name: local, tenant_id: %s, discovery_url: '%s%s'}\n"+
		"    assignments:\n      - {role: Cognitive Services OpenAI User, principal: 'object:%s', scope: /deployments/gpt-4o-mini}\n",
		*tenant, base, idp.DiscoveryPath, ids[0].ObjectID)
	for _, a := range apps {
		fmt.Fprintf(stdout, "\nSign-in (code flow with PKCE) for client %s: %s%s\n", a.ClientID, base, idp.AuthorizePath)
	}
	for _, u := range users {
		fmt.Fprintf(stdout, "  user %s object %s\n", u.UPN, u.ObjectID)
	}
	return serveUntil(ctx, ln, iss.Handler())
}

var _ flag.Value = (*identityFlag)(nil)

// userFlag collects --user upn=objectID values.
type userFlag []idp.User

func (f *userFlag) String() string { return fmt.Sprint(len(*f), " users") }

func (f *userFlag) Set(v string) error {
	upn, object, ok := strings.Cut(v, "=")
	if !ok || upn == "" || object == "" {
		return errors.New("want upn=objectID")
	}
	name, _, _ := strings.Cut(upn, "@")
	*f = append(*f, idp.User{Name: name, UPN: upn, ObjectID: object})
	return nil
}

// appFlag collects --app clientID=redirectURI values: web applications
// that sign users in with the authorization code flow and PKCE.
type appFlag []idp.Identity

func (f *appFlag) String() string { return fmt.Sprint(len(*f), " apps") }

func (f *appFlag) Set(v string) error {
	client, redirect, ok := strings.Cut(v, "=")
	if !ok || client == "" || redirect == "" {
		return errors.New("want clientID=redirectURI")
	}
	for i := range *f {
		if (*f)[i].ClientID == client {
			(*f)[i].RedirectURIs = append((*f)[i].RedirectURIs, redirect)
			return nil
		}
	}
	*f = append(*f, idp.Identity{Name: "app " + client, ClientID: client, ObjectID: client, RedirectURIs: []string{redirect}})
	return nil
}
