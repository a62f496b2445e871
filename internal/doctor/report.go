// Package doctor diagnoses the path between clients, moat and its
// upstreams the way a practitioner would with nslookup, openssl s_client
// and curl, and says in plain words what is wrong: a private endpoint name
// that resolves to a public address, a name that leads moat back to
// itself, a certificate for another name, an Azure 403 that is really a
// firewall rule. It only reads: it changes no config, no store and no DNS.
package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Status is the outcome of one check.
type Status string

// Statuses, from best to worst. Only fail makes moat doctor exit 1.
const (
	OK   Status = "ok"
	Skip Status = "skip"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Check is one diagnosed fact.
type Check struct {
	// Subject is what was checked: "upstream aoai", "listener pe", "client".
	Subject string `json:"subject"`
	// Name is the check: dns, self-loop, tcp, tls, credential, deployment gpt-4o, record.
	Name   string `json:"check"`
	Status Status `json:"status"`
	// Detail is what was observed, in full (addresses, names, dates).
	Detail string `json:"detail"`
	// Cause says in plain words why it failed or what it means.
	Cause string `json:"cause,omitempty"`
	// Fix is the next thing to try.
	Fix string `json:"fix,omitempty"`
	// Code is a stable, machine-readable diagnosis (e.g. public_access_disabled), for scripts and tests.
	Code string `json:"code,omitempty"`
}

// Report is every check of one run, in the order they ran.
type Report struct {
	Checks []Check `json:"checks"`
}

// Add appends c.
func (r *Report) Add(c Check) { r.Checks = append(r.Checks, c) }

// Failed reports whether any check failed.
func (r *Report) Failed() bool {
	for _, c := range r.Checks {
		if c.Status == Fail {
			return true
		}
	}
	return false
}

// Find returns the first check on subject named name, for tests and for
// checks that depend on an earlier one.
func (r *Report) Find(subject, name string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Subject == subject && c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

// WriteJSON writes the report as one JSON object with an "ok" summary.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		OK     bool    `json:"ok"`
		Checks []Check `json:"checks"`
	}{!r.Failed(), r.Checks})
}

// WriteTable writes one line per check, with the cause and fix indented
// under failures and warnings, and a summary line.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tSUBJECT\tCHECK\tDETAIL")
	counts := map[Status]int{}
	for _, c := range r.Checks {
		counts[c.Status]++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", strings.ToUpper(string(c.Status)), c.Subject, c.Name, oneLine(c.Detail))
		if c.Cause != "" {
			fmt.Fprintf(tw, "\t\t\t  cause: %s\n", oneLine(c.Cause))
		}
		if c.Fix != "" {
			fmt.Fprintf(tw, "\t\t\t  fix:   %s\n", oneLine(c.Fix))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d ok, %d warnings, %d failed, %d skipped\n", counts[OK], counts[Warn], counts[Fail], counts[Skip])
	return err
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
