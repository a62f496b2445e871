package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/moat-gw/moat/internal/doctor"
)

// errChecksFailed makes moat doctor exit 1 after printing its report.
var errChecksFailed = errors.New("some checks failed")

// runDoctor diagnoses moat's network path: by default from moat's host
// (every upstream, and the DNS records of moat's listeners), or with
// --client from a client's subnet (moat's name, certificate, the network
// rule moat applies to this client, and the credential).
func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("doctor", stderr)
	path := configFlag(fs)
	out := outputFlag(fs)
	dnsServer := fs.String("dns", "", "DNS server to ask, host[:port] (default: the first nameserver of /etc/resolv.conf)")
	timeout := fs.Duration("timeout", 10*time.Second, "limit on each network step")
	client := fs.String("client", "", "check moat as a client does, at this URL (e.g. https://contoso-aoai.openai.azure.com)")
	apiKey := fs.String("api-key", "", "with --client: the client's API key (or set MOAT_DOCTOR_API_KEY, which ps does not show)")
	token := fs.String("token", "", "with --client: an Entra / OIDC bearer token (or set MOAT_DOCTOR_TOKEN)")
	deployment := fs.String("deployment", "", "with --client: check the credential may call this deployment")
	caFile := fs.String("ca-file", "", "with --client: PEM CA bundle the clients trust moat's certificate with")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: moat doctor [--config FILE] [-o table|json] [--dns SERVER]
       moat doctor --client URL [--api-key KEY | --token TOKEN] [--deployment D] [--ca-file FILE] [--dns SERVER]

Where moat runs: for every upstream, the DNS chain (CNAME into *.privatelink.*,
private or public answer), a self-loop check, TCP, TLS (chain, name, expiry),
the credential and one free probe per deployment, with Azure's 403s explained;
then the DNS records of moat's listeners. From a client subnet (--client):
moat's name, its certificate, the network rule moat applies to this client and
whether the credential may call the deployment. Exit code 1 if a check fails.

`)
		printFlagList(fs)
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	res := &doctor.Resolver{Server: *dnsServer}
	var rep *doctor.Report
	if *client != "" {
		if *apiKey == "" {
			*apiKey = os.Getenv("MOAT_DOCTOR_API_KEY")
		}
		if *token == "" {
			*token = os.Getenv("MOAT_DOCTOR_TOKEN")
		}
		rep = doctor.Client(ctx, doctor.ClientOptions{URL: *client, APIKey: *apiKey, Token: *token,
			Deployment: *deployment, CAFile: *caFile, Resolver: res, Timeout: *timeout})
	} else {
		cfg, _, err := loadConfig(*path, stderr)
		if err != nil {
			return err
		}
		rep = doctor.Run(ctx, cfg, doctor.Options{Resolver: res, Timeout: *timeout})
	}
	var err error
	if out.json() {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteTable(stdout)
	}
	if err != nil {
		return err
	}
	if rep.Failed() {
		return errChecksFailed
	}
	return nil
}
