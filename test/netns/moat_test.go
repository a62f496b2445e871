package netns_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildMoat builds cmd/moat once per run, with the race detector when the
// tests have it, so races in the gateway under real traffic fail the suite.
// MOAT_BIN points at a prebuilt binary instead.
func buildMoat(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("MOAT_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "moat")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "github.com/moat-gw/moat/cmd/moat")
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}

// rules is what changes between the configs of one run.
type rules struct {
	mode string // public_network_access
	// peSources are the private endpoint listeners' allowed_sources; nil
	// means the vnet subnet only, like an NSG on the endpoint's subnet.
	peSources []string
	// broken adds an invalid value, for a reload that must be refused.
	broken bool
	// untrustProxy leaves the proxy out of trusted_proxies.
	untrustProxy bool
}

// renderConfig writes moat's YAML for the topology: per family, a private
// endpoint listener in the vnet subnet, a public listener, and a public
// PROXY protocol listener for the balancer; the management plane only on
// the private endpoint address. ip_rules name the internet client .10 on
// both of its subnets; the vnet subnet is a virtual network rule; the proxy
// is trusted.
func renderConfig(dataDir string, r rules) string {
	var b strings.Builder
	q := func(s string) string { return `"` + s + `"` }
	list := func(xs ...string) string {
		quoted := make([]string, len(xs))
		for i, x := range xs {
			quoted[i] = q(x)
		}
		return "[" + strings.Join(quoted, ", ") + "]"
	}
	fmt.Fprintf(&b, "data_dir: %s\nregion: netns-test\n", q(dataDir))
	var vnetSources []string
	for _, f := range families() {
		vnetSources = append(vnetSources, f.prefix(subnetVNet))
	}
	pe := r.peSources
	if pe == nil {
		pe = vnetSources
	}
	b.WriteString("listeners:\n")
	for _, f := range families() {
		fmt.Fprintf(&b, "  - {name: pe-%s, address: %s, kind: private_endpoint, allowed_sources: %s}\n",
			f.name, q(f.hostPort(subnetVNet, hostGWPE, portPE)), list(pe...))
		fmt.Fprintf(&b, "  - {name: public-%s, address: %s, kind: public}\n",
			f.name, q(f.hostPort(subnetPublic, hostGW, portPub)))
		fmt.Fprintf(&b, "  - {name: balancer-%s, address: %s, kind: public, proxy_protocol: true}\n",
			f.name, q(f.hostPort(subnetBack, hostGW, portPP)))
	}
	fmt.Fprintf(&b, "  - {name: public-any, address: %s, kind: public}\n", q(fmt.Sprintf("[::]:%d", portAny)))
	b.WriteString("management:\n  listeners:\n")
	for _, f := range families() {
		fmt.Fprintf(&b, "    - {name: mgmt-%s, address: %s, kind: private_endpoint, allowed_sources: %s}\n",
			f.name, q(f.hostPort(subnetVNet, hostGWPE, portMgmt)), list(vnetSources...))
	}
	mode := r.mode
	if r.broken {
		mode = "sometimes"
	}
	fmt.Fprintf(&b, "network:\n  public_network_access: %s\n", mode)
	var ipRules, trusted []string
	for _, f := range families() {
		ipRules = append(ipRules, f.ip(subnetPublic, 10), f.ip(subnetFront, 10))
		if !r.untrustProxy {
			trusted = append(trusted, f.ip(subnetBack, hostProxy))
		}
	}
	fmt.Fprintf(&b, "  ip_rules: %s\n", list(ipRules...))
	b.WriteString("  virtual_network_rules:\n")
	for _, f := range families() {
		fmt.Fprintf(&b, "    - {name: snet-app-%s, prefix: %s}\n", f.name, q(f.prefix(subnetVNet)))
	}
	fmt.Fprintf(&b, "  trusted_proxies: %s\n", list(trusted...))
	fmt.Fprintf(&b, "auth:\n  keys: [{name: netns-test, key: %s}]\n", q(apiKey))
	b.WriteString(`upstreams: [{name: sim, type: simulator}]
deployments: [{name: gpt-4o-mini, upstreams: [{upstream: sim}]}]
simulator: {time_to_first_token: 100ms, tokens_per_second: 20, seed: 7}
shutdown: {grace_period: 5s}
log: {level: debug, flush_interval: 50ms}
`)
	return b.String()
}

// moatProc is moat running in the gw namespace.
type moatProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	cfg  string
	dir  string
	logs *lineLog
	done chan struct{}
}

// startMoat runs `moat serve` in ns and waits for its banner, printed once
// every listener is bound.
func startMoat(t *testing.T, bin, ns string, r rules) *moatProc {
	t.Helper()
	dir := t.TempDir()
	m := &moatProc{t: t, cfg: filepath.Join(dir, "moat.yaml"), dir: dir, logs: newLineLog(), done: make(chan struct{})}
	m.write(r)
	m.cmd = exec.Command("ip", "netns", "exec", ns, bin, "serve", "--config", m.cfg)
	m.cmd.Env = withRaceExitSleep(200)
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := m.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := m.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	banner := newLineLog()
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("start moat: %v", err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); banner.consume(stdout) }()
	go func() { defer wg.Done(); m.logs.consume(stderr) }()
	go func() { wg.Wait(); _ = m.cmd.Wait(); close(m.done) }()
	t.Cleanup(m.stop)
	if _, _, ok := banner.wait(0, 60*time.Second, "is serving"); !ok {
		t.Fatalf("moat did not start:\n%s", m.logs.text())
	}
	return m
}

func (m *moatProc) write(r rules) {
	m.t.Helper()
	if err := os.WriteFile(m.cfg, []byte(renderConfig(filepath.Join(m.dir, "data"), r)), 0o600); err != nil {
		m.t.Fatal(err)
	}
}

// reload rewrites the config and sends SIGHUP (ip netns exec execs moat, so
// the child is moat itself). It returns moat's log line about the reload.
func (m *moatProc) reload(r rules) (line string, ok bool) {
	m.t.Helper()
	m.write(r)
	from := m.logs.len()
	if err := m.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		m.t.Fatalf("SIGHUP: %v", err)
	}
	line, _, found := m.logs.wait(from, 20*time.Second, "config reloaded", "config reload failed")
	if !found {
		m.t.Fatalf("moat said nothing about the reload:\n%s", m.logs.text())
	}
	return line, strings.Contains(line, "config reloaded")
}

// stop ends moat with SIGTERM (graceful), then checks its log for races.
func (m *moatProc) stop() {
	select {
	case <-m.done:
	default:
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.done:
		case <-time.After(15 * time.Second):
			_ = m.cmd.Process.Kill()
			<-m.done
		}
	}
	if os.Getenv("MOAT_NETNS_DEBUG") != "" {
		m.t.Logf("moat log:\n%s", m.logs.text())
	}
	if log := m.logs.text(); strings.Contains(log, "WARNING: DATA RACE") {
		m.t.Errorf("moat reported a data race:\n%s", log)
	}
}

// lineLog collects a process's output lines and lets the test wait for one.
type lineLog struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced on every new line
	closed  bool
}

func newLineLog() *lineLog { return &lineLog{changed: make(chan struct{})} }

func (l *lineLog) consume(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l.add(sc.Text())
	}
	l.close()
}

func (l *lineLog) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	close(l.changed)
	l.changed = make(chan struct{})
}

// close says no more lines will come, so waits end.
func (l *lineLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.changed)
		l.changed = make(chan struct{})
	}
}

func (l *lineLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

func (l *lineLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// wait returns the first line at index from or later that contains one of
// subs, and its index.
func (l *lineLog) wait(from int, timeout time.Duration, subs ...string) (string, int, bool) {
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		for i := from; i < len(l.lines); i++ {
			for _, s := range subs {
				if strings.Contains(l.lines[i], s) {
					line := l.lines[i]
					l.mu.Unlock()
					return line, i, true
				}
			}
		}
		ch, closed := l.changed, l.closed
		l.mu.Unlock()
		if closed {
			return "", 0, false
		}
		select {
		case <-ch:
		case <-deadline:
			return "", 0, false
		}
	}
}

// withRaceExitSleep is the environment with the race detector's wait at
// exit (1s by default, for late reports from other goroutines) set to ms,
// so that stopping a process does not cost a second each.
func withRaceExitSleep(ms int) []string {
	gorace := strings.TrimSpace(os.Getenv("GORACE") + fmt.Sprintf(" atexit_sleep_ms=%d", ms))
	return append(os.Environ(), "GORACE="+gorace)
}

// helperCmd runs the test binary in role inside ns.
func helperCmd(t *testing.T, ns, role string, spec any) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, self, "-test.run=^$")
	cmd.Env = append(withRaceExitSleep(0), envHelper+"="+role, envSpec+"="+string(js))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}
