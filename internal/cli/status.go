package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/moat-gw/moat/internal/fleet"
	"github.com/moat-gw/moat/internal/gateway"
)

// statusTimeout bounds one status request, so a listener that accepts but
// never answers does not hang the command.
const statusTimeout = 10 * time.Second

// maxStatusBody bounds the answer read from the management listener.
const maxStatusBody = 8 << 20

// statusReport is the management listener's GET /status answer.
type statusReport struct {
	Version   string                   `json:"version"`
	Ready     bool                     `json:"ready"`
	Upstreams []gateway.UpstreamStatus `json:"upstreams"`
	Replica   struct {
		Name        string `json:"name"`
		Fingerprint string `json:"fingerprint"`
	} `json:"replica"`
	Replicas      []fleet.Status `json:"replicas"`
	ReplicasError string         `json:"replicas_error"`
}

// runStatus shows the routing state of every deployment's pool, read from a
// running moat's management listener, so an operator can see which members
// are benched or tripped without scraping metrics.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", stderr)
	addr := fs.String("addr", "127.0.0.1:9090", "management listener: host:port, or a base URL (https://host:port)")
	keyEnv := fs.String("api-key-env", "", "environment variable holding an API key to send as api-key (default: none)")
	asJSON := fs.Bool("json", false, "print the JSON answer as received")
	if err := parse(fs, args); err != nil {
		return err
	}
	key := ""
	if *keyEnv != "" {
		if key = os.Getenv(*keyEnv); key == "" {
			return fmt.Errorf("environment variable %s is empty or unset", *keyEnv)
		}
	}
	body, err := fetchStatus(ctx, statusURL(*addr), key)
	if err != nil {
		return err
	}
	var rep statusReport
	if err := json.Unmarshal(body, &rep); err != nil {
		return fmt.Errorf("read status from %s: not a moat status answer: %w", *addr, err)
	}
	if *asJSON {
		if _, err := stdout.Write(body); err != nil {
			return err
		}
		if !bytes.HasSuffix(body, []byte("\n")) {
			_, err = io.WriteString(stdout, "\n")
		}
		return err
	}
	if err := printStatus(stdout, rep); err != nil {
		return err
	}
	return printReplicas(stdout, rep, time.Now())
}

// statusURL turns the --addr value into the /status URL.
func statusURL(addr string) string {
	base := strings.TrimRight(addr, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return base + "/status"
}

// fetchStatus GETs url and returns the body of a 200 answer. key, when set,
// is sent as api-key and never appears in an error.
func fetchStatus(ctx context.Context, url, key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if key != "" {
		req.Header.Set("Api-Key", key)
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err) // names the method and URL
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxStatusBody))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get %s: %s: %s", url, resp.Status, bytes.TrimSpace(firstBytes(body, 512)))
	}
	return body, nil
}

func firstBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// printStatus writes the report as a summary line and one table row per
// pool member, in the server's order (deployment, then attempt order).
func printStatus(w io.Writer, rep statusReport) error {
	state := "ready"
	if !rep.Ready {
		state = "not ready (draining)"
	}
	fmt.Fprintf(w, "moat %s: %s\n", dash(rep.Version), state)
	if rep.Replica.Name != "" {
		fmt.Fprintf(w, "replica %s, config %s\n", rep.Replica.Name, dash(rep.Replica.Fingerprint))
	}
	if len(rep.Upstreams) == 0 {
		_, err := fmt.Fprintln(w, "no deployments configured")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEPLOYMENT\tUPSTREAM\tPRIORITY\tWEIGHT\tSTATE\tAVAILABLE\tBENCHED/OPEN UNTIL\tFAILURES")
	for _, u := range rep.Upstreams {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%d\n", u.Deployment, u.Upstream, u.Priority, u.Weight,
			dash(u.State), strconv.FormatBool(u.Available), until(u.BenchedUntil, u.OpenUntil), u.ConsecutiveFailures)
	}
	return tw.Flush()
}

// until names what keeps a member out of the pool and until when (UTC).
func until(benched, open time.Time) string {
	var parts []string
	if !benched.IsZero() {
		parts = append(parts, "benched "+benched.UTC().Format(time.RFC3339))
	}
	if !open.IsZero() {
		parts = append(parts, "open "+open.UTC().Format(time.RFC3339))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// printReplicas lists every replica sharing the store, with what differs:
// a config fingerprint or rate limits other than the fleet's, or a replica
// that stopped sending heartbeats without shutting down.
func printReplicas(w io.Writer, rep statusReport, now time.Time) error {
	if rep.ReplicasError != "" {
		_, err := fmt.Fprintf(w, "\nreplicas: %s\n", rep.ReplicasError)
		return err
	}
	if len(rep.Replicas) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REPLICA\tVERSION\tSTATE\tSTARTED\tLAST SEEN\tCONFIG\tLIMITS\tDRIFT")
	drifting := 0
	for _, r := range rep.Replicas {
		var drift []string
		if r.Stale {
			drift = append(drift, "stale")
		}
		if r.ConfigDiffers {
			drift = append(drift, "config differs")
		}
		if r.LimitsDiffer {
			drift = append(drift, "limits differ")
		}
		if len(drift) > 0 {
			drifting++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s ago\t%s\t%s\t%s\n", r.Name, dash(r.Version), dash(r.State),
			r.Started.UTC().Format(time.RFC3339), now.Sub(r.LastSeen).Round(time.Second), dash(r.Fingerprint),
			dash(r.Limits), dash(strings.Join(drift, ", ")))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if drifting > 0 {
		_, err := fmt.Fprintf(w, "WARNING: %d of %d replicas drift from the fleet (see DRIFT)\n", drifting, len(rep.Replicas))
		return err
	}
	return nil
}
