package netns_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The addressing plan. Every subnet is a private test range that exists only
// on veth pairs between namespaces this suite creates; the root namespace
// gets no address and no route.
//
//	             10.231.1.0/24                  10.231.2.0/24
//	[vnet]  .10 ─────────────── .4 [ gw ] .1 ─────────────── .10 [inet]
//	                               [moat]                   .10, .11
//	[rogue] .10 ─────────────── .1 [    ] .1 ─── .2 [proxy] .1 ───┘
//	             10.231.5.0/24      10.231.4.0/24     10.231.3.0/24
//
// moat's private endpoint and management listeners are on gw's .4 in the
// vnet subnet, its public listener on .1 in the internet's subnet, and its
// PROXY protocol listener on .1 in the proxy's subnet. The gateway does not
// forward packets; every client has a default route to it.
//
// IPv6 mirrors it: 10.231.N.H is fd00:231:N::H.
const (
	subnetVNet   = 1 // gw .4 is the private endpoint; the vnet client is .10
	subnetPublic = 2 // gw .1 is the public listener; the internet client is .10
	subnetFront  = 3 // the proxy's front .1; internet clients .10 (in ip_rules) and .11 (not)
	subnetBack   = 4 // gw .1 is the PROXY protocol listener; the trusted proxy is .2
	subnetRogue  = 5 // gw .1; the untrusted host that forges headers is .10

	portPE    = 8080
	portPub   = 8081
	portPP    = 8082
	portAny   = 8083 // the dual-stack public listener on [::]
	portMgmt  = 9090
	portL7    = 8000 // the proxy's X-Forwarded-For front
	portL4    = 8001 // the proxy's PROXY protocol v2 front
	hostGWPE  = 4
	hostGW    = 1
	hostProxy = 2
)

// family is IPv4 or IPv6; every scenario runs on both.
type family struct {
	name string
	v6   bool
}

func families() []family { return []family{{"ipv4", false}, {"ipv6", true}} }

// ip is host h of subnet n.
func (f family) ip(n, h int) string {
	if f.v6 {
		return fmt.Sprintf("fd00:231:%d::%d", n, h)
	}
	return fmt.Sprintf("10.231.%d.%d", n, h)
}

// prefix is subnet n as a CIDR.
func (f family) prefix(n int) string {
	if f.v6 {
		return fmt.Sprintf("fd00:231:%d::/64", n)
	}
	return fmt.Sprintf("10.231.%d.0/24", n)
}

// ifaddr is host h of subnet n with the subnet's length, for `ip addr add`.
func (f family) ifaddr(n, h int) string {
	if f.v6 {
		return f.ip(n, h) + "/64"
	}
	return f.ip(n, h) + "/24"
}

func (f family) hostPort(n, h, port int) string {
	return net.JoinHostPort(f.ip(n, h), strconv.Itoa(port))
}

// topology is the set of namespaces of one test run.
type topology struct {
	gw, vnet, inet, proxy, rogue string
	// agents make the calls, one per client namespace.
	agents map[string]*agent
}

// call makes r from inside namespace ns.
func (tp *topology) call(ns string, r request) (response, error) { return tp.agents[ns].call(r) }

// nsPrefix starts every namespace name, followed by the creating process's
// PID, so a later run can tell leftovers of a killed run from live ones.
const nsPrefix = "moatnt-"

// newTopology builds the namespaces, links and routes, and removes them when
// the test ends, whatever happened.
func newTopology(t *testing.T) *topology {
	t.Helper()
	cleanStale(t)
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	id := fmt.Sprintf("%s%d-%s", nsPrefix, os.Getpid(), hex.EncodeToString(suffix))
	tp := &topology{gw: id + "-gw", vnet: id + "-vnet", inet: id + "-inet", proxy: id + "-prx", rogue: id + "-rog"}
	for _, ns := range tp.all() {
		t.Cleanup(func() { deleteNamespace(t, ns) })
		ipCmd(t, "netns", "add", ns)
		ipCmd(t, "-n", ns, "link", "set", "lo", "up")
	}
	tp.link(t, tp.gw, "vnet0", hostGWPE, tp.vnet, "eth0", 10, subnetVNet)
	tp.link(t, tp.gw, "pub0", hostGW, tp.inet, "eth0", 10, subnetPublic)
	tp.link(t, tp.proxy, "front0", 1, tp.inet, "eth1", 10, subnetFront)
	tp.link(t, tp.gw, "prx0", hostGW, tp.proxy, "back0", hostProxy, subnetBack)
	tp.link(t, tp.gw, "rog0", hostGW, tp.rogue, "eth0", 10, subnetRogue)
	for _, f := range families() {
		ipCmd(t, addrArgs(f, tp.inet, f.ifaddr(subnetFront, 11), "eth1")...)
		// Every client may send anything to the gateway host. The gateway
		// does not forward, so the only addresses it answers on are its own
		// (Linux accepts a packet for any local address on any interface).
		for _, r := range []struct {
			ns     string
			subnet int
			via    int
		}{{tp.vnet, subnetVNet, hostGWPE}, {tp.inet, subnetPublic, hostGW}, {tp.proxy, subnetBack, hostGW}, {tp.rogue, subnetRogue, hostGW}} {
			ipCmd(t, routeArgs(f, r.ns, f.ip(r.subnet, r.via))...)
		}
	}
	return tp
}

func (tp *topology) all() []string { return []string{tp.gw, tp.vnet, tp.inet, tp.proxy, tp.rogue} }

// link joins nsA and nsB with a veth pair on subnet n, hosts ha and hb.
func (tp *topology) link(t *testing.T, nsA, ifA string, ha int, nsB, ifB string, hb, n int) {
	t.Helper()
	ipCmd(t, "link", "add", ifA, "netns", nsA, "type", "veth", "peer", "name", ifB, "netns", nsB)
	for _, side := range []struct {
		ns, dev string
		h       int
	}{{nsA, ifA, ha}, {nsB, ifB, hb}} {
		for _, f := range families() {
			ipCmd(t, addrArgs(f, side.ns, f.ifaddr(n, side.h), side.dev)...)
		}
		ipCmd(t, "-n", side.ns, "link", "set", side.dev, "up")
	}
}

func addrArgs(f family, ns, cidr, dev string) []string {
	args := []string{"-n", ns, "addr", "add", cidr, "dev", dev}
	if f.v6 {
		args = append(args, "nodad") // usable at once, no duplicate address detection wait
	}
	return args
}

func routeArgs(f family, ns, via string) []string {
	if f.v6 {
		return []string{"-n", ns, "-6", "route", "add", "default", "via", via}
	}
	return []string{"-n", ns, "route", "add", "default", "via", via}
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// deleteNamespace kills what still runs in ns, then deletes it; its veths
// go with it.
func deleteNamespace(t *testing.T, ns string) {
	if _, err := os.Stat(filepath.Join("/run/netns", ns)); err != nil {
		return
	}
	killNamespacePIDs(ns)
	if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
		t.Errorf("ip netns del %s: %v: %s", ns, err, out)
	}
}

// killNamespacePIDs kills the processes left in ns. Every process there was
// started by this suite, by its PID (never by name).
func killNamespacePIDs(ns string) {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Kill()
			}
		}
	}
}

// cleanStale removes namespaces of earlier runs whose process is gone (a
// run killed by a timeout cannot run its cleanups).
func cleanStale(t *testing.T) {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), nsPrefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(filepath.Join("/proc", pidText)); err == nil {
			continue // that run is alive
		}
		t.Logf("removing namespace %s left by an earlier run", e.Name())
		deleteNamespace(t, e.Name())
	}
}

// requireNetns skips the test locally when namespaces cannot be made, and
// fails it in CI, where they must be.
func requireNetns(t *testing.T) {
	t.Helper()
	fail := t.Skipf
	if os.Getenv("CI") != "" {
		fail = t.Fatalf
	}
	if os.Geteuid() != 0 {
		fail("network namespace tests need root (euid %d)", os.Geteuid())
		return
	}
	if _, err := exec.LookPath("ip"); err != nil {
		fail("network namespace tests need iproute2's ip: %v", err)
		return
	}
	probe := fmt.Sprintf("%s%d-probe", nsPrefix, os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		fail("ip netns add does not work here: %v: %s", err, out)
		return
	}
	_ = exec.Command("ip", "netns", "del", probe).Run()
}
