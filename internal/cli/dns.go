package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/moat-gw/moat/internal/doctor"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// runDNS prints the DNS records clients need to reach moat's listeners
// (and the private endpoints of upstreams dialed with connect_address), in
// the syntax of the DNS server that will carry them.
func runDNS(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "records" {
		fmt.Fprintln(stderr, "usage: moat dns records [--config FILE] [--format "+strings.Join(doctor.Formats, "|")+"|json] [--name NAME]...")
		return errUsage
	}
	fs := newFlags("dns records", stderr)
	path := configFlag(fs)
	format := fs.String("format", "bind", "output: "+strings.Join(doctor.Formats, ", ")+" or json")
	var names stringList
	fs.Var(&names, "name", "a name clients call moat by, in addition to the DNS names of the listeners' certificates (repeatable)")
	ttl := fs.Int("ttl", 300, "record TTL in seconds")
	forwarder := fs.String("forwarder", "168.63.129.16", "resolver for privatelink zones in conditional forwarders (windows)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *format != "json" && !slices.Contains(doctor.Formats, *format) {
		fmt.Fprintf(stderr, "--format must be one of %s or json\n", strings.Join(doctor.Formats, ", "))
		return errUsage
	}
	cfg, _, err := loadConfig(*path, stderr)
	if err != nil {
		return err
	}
	rs := doctor.Records(cfg, names)
	if len(rs.Records) == 0 {
		for _, n := range rs.Notes {
			fmt.Fprintln(stderr, "note:", n)
		}
		return fmt.Errorf("no records: give the listeners a certificate with the names clients call, or pass --name")
	}
	if *format == "json" {
		return printJSON(stdout, rs)
	}
	return doctor.WriteRecords(stdout, rs, *format, doctor.FormatOptions{TTL: *ttl, Forwarder: *forwarder})
}
