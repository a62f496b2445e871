package netns_test

import (
	"bufio"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestNetworkIsolation runs the moat binary in a namespace topology (see
// topology_test.go) and checks every caller against every public network
// access mode, then a SIGHUP reload with streams in flight.
func TestNetworkIsolation(t *testing.T) {
	requireNetns(t)
	start := time.Now()
	bin := buildMoat(t)
	built := time.Now()
	tp := newTopology(t)
	startProxies(t, tp)
	tp.agents = startAgents(t, tp.vnet, tp.inet, tp.rogue)
	t.Logf("moat built in %v; namespaces, proxies and agents ready in %v",
		built.Sub(start).Round(time.Millisecond), time.Since(built).Round(time.Millisecond))

	for i, mode := range modes() {
		t.Run(mode, func(t *testing.T) {
			start := time.Now()
			startMoat(t, bin, tp.gw, rules{mode: mode})
			t.Logf("moat started in %v", time.Since(start).Round(time.Millisecond))
			runMatrix(t, tp, i)
		})
	}
	t.Run("reload", func(t *testing.T) { testReload(t, tp, bin) })
}

// runMatrix makes the calls of the matrix for mode index i concurrently,
// then checks them one by one.
func runMatrix(t *testing.T, tp *topology, i int) {
	type job struct {
		c   matrixCase
		f   family
		got response
		err error
	}
	var jobs []*job
	for _, c := range matrix() {
		if c.want[i] == skip {
			continue
		}
		for _, f := range families() {
			jobs = append(jobs, &job{c: c, f: f})
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, j := range jobs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			j.got, j.err = tp.call(j.c.namespace(tp), j.c.request(j.f))
		})
	}
	wg.Wait()
	denials := map[[2]string]int{}
	for _, j := range jobs {
		if reason := denialReason(j.c.want[i]); reason != "" {
			denials[[2]string{j.c.listener(j.f), reason}]++
		}
	}
	t.Run("each denial counted once", func(t *testing.T) { checkDenialMetrics(t, tp, denials) })
	for _, j := range jobs {
		t.Run(j.c.name+"/"+j.f.name, func(t *testing.T) {
			if j.err != nil {
				t.Fatal(j.err)
			}
			if err := j.c.check(j.got, j.c.want[i]); err != nil {
				t.Errorf("%s on listener %s from %s: %v", j.c.name, j.c.listener(j.f), j.c.clientIP(j.f), err)
			}
		})
	}
}

// startProxies runs the trusted reverse proxy and balancer in the proxy
// namespace: per family, an X-Forwarded-For front on :8000 for the public
// listener and a PROXY v2 front on :8001 for the PROXY protocol listener.
func startProxies(t *testing.T, tp *topology) {
	t.Helper()
	var fs []forward
	for _, f := range families() {
		fs = append(fs,
			forward{Kind: "http", Listen: f.hostPort(subnetFront, 1, portL7), Target: "http://" + f.hostPort(subnetPublic, hostGW, portPub)},
			forward{Kind: "proxy_v2", Listen: f.hostPort(subnetFront, 1, portL4), Target: f.hostPort(subnetBack, hostGW, portPP)})
	}
	cmd := helperCmd(t, tp.proxy, "proxy", fs)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start proxies: %v", err)
	}
	t.Cleanup(func() {
		stdin.Close() // the helper exits when its stdin closes
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("proxies did not start: %q %v: %s", line, err, stderr.String())
	}
}

// testReload changes the rules under two streams in flight (one through
// the private endpoint, one through the public listener): each stream must
// finish with [DONE] on the rules it started with, and new calls must get
// the new rules at once.
func testReload(t *testing.T, tp *topology, bin string) {
	m := startMoat(t, bin, tp.gw, rules{mode: "enabled"})
	caseOf := func(from client, r route) matrixCase { return matrixCase{name: "reload", from: from, route: r} }
	streamBody := `{"messages":[{"role":"user","content":"Tell me a long story about the moats of old castles."}],"max_tokens":60,"stream":true}`

	// A keep-alive connection opened under the old rules: its next call
	// must be judged by the new ones (decisions are per call).
	keepAlive := func(f family) request {
		r := caseOf(fromInternet, toPublic).request(f)
		r.KeepAlive = "reload-" + f.name
		return r
	}
	for _, f := range families() {
		got, err := tp.call(tp.inet, keepAlive(f))
		if err != nil {
			t.Fatal(err)
		}
		if err := caseOf(fromInternet, toPublic).check(got, completion); err != nil {
			t.Fatalf("keep-alive call before the reload: %v", err)
		}
	}

	type inflight struct {
		name string
		s    *stream
		mark int
	}
	var streams []*inflight
	for _, f := range families() {
		for _, c := range []matrixCase{caseOf(fromVNet, toPE), caseOf(fromInternet, toPublic)} {
			r := c.request(f)
			r.Body = streamBody
			r.Stream = true
			streams = append(streams, &inflight{name: c.listener(f), s: tp.agents[c.namespace(tp)].start(r)})
		}
	}
	for _, st := range streams {
		if _, _, ok := st.s.lines.wait(0, 30*time.Second, "delta"); !ok {
			t.Fatalf("stream on %s did not start: %s", st.name, st.s.lines.text())
		}
	}

	if line, ok := m.reload(rules{mode: "disabled"}); !ok {
		t.Fatalf("reload to disabled refused: %s", line)
	}
	for _, st := range streams {
		st.mark = st.s.lines.len()
	}
	for _, f := range families() {
		got, err := tp.call(tp.inet, keepAlive(f))
		if err != nil {
			t.Fatal(err)
		}
		if !got.Reused {
			t.Errorf("%s: the keep-alive connection was not reused, so this proves nothing: %s", f.name, describe(got))
		}
		if err := caseOf(fromInternet, toPublic).check(got, deniedDisabled); err != nil {
			t.Errorf("%s: call on a connection opened before the reload: %v", f.name, err)
		}
	}
	expect(t, tp, "after reload to disabled", []expectation{
		{caseOf(fromInternet, toPublic), deniedDisabled},
		{caseOf(fromRogue, toPublic), deniedDisabled},
		{caseOf(fromInternet, viaReverseProxy), deniedDisabled},
		{caseOf(fromVNet, toPE), completion},
	})
	for _, st := range streams {
		select {
		case got := <-st.s.resp:
			if got.Err != "" || got.Status != http.StatusOK || !strings.HasSuffix(got.Body, "data: [DONE]\n\n") {
				t.Errorf("stream on %s, in flight across the reload, did not finish cleanly: %s", st.name, describe(got))
			}
			// Body lines after the mark arrived after moat said it reloaded.
			n := st.s.lines.len()
			t.Logf("stream on %s: %d body lines, %d of them after the reload", st.name, n, n-st.mark)
			if n <= st.mark {
				t.Errorf("stream on %s ended before the reload took effect (%d lines, reload at %d); the test proved nothing", st.name, n, st.mark)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("stream on %s did not finish", st.name)
		}
	}

	if line, ok := m.reload(rules{mode: "selected"}); !ok {
		t.Fatalf("reload to selected refused: %s", line)
	}
	selected := []expectation{
		{caseOf(fromInternet, toPublic), completion},
		{caseOf(fromVNet, toPublic), completion},
		{caseOf(fromRogue, toPublic), deniedFirewall},
		{caseOf(fromInternetOther, viaReverseProxy), deniedFirewall},
	}
	expect(t, tp, "after reload to selected", selected)

	if line, ok := m.reload(rules{mode: "disabled", broken: true}); ok {
		t.Fatalf("an invalid config was accepted on reload: %s", line)
	}
	expect(t, tp, "after a refused reload", selected)

	// allowed_sources is not an address: changing it must either apply on
	// reload or be refused, never be accepted and ignored.
	var open []string
	for _, f := range families() {
		open = append(open, f.prefix(subnetVNet), f.prefix(subnetPublic))
	}
	if line, ok := m.reload(rules{mode: "selected", peSources: open}); ok {
		expect(t, tp, "after widening the private endpoint's allowed_sources", []expectation{
			{caseOf(fromInternet, toPE), completion},
			{caseOf(fromRogue, toPE), deniedNSG},
		})
	} else {
		t.Logf("moat refuses allowed_sources changes on reload: %s", line)
	}

	// Nor is trusted_proxies: once the proxy is no longer trusted, neither
	// its X-Forwarded-For nor its PROXY headers may be believed.
	t.Run("trusted_proxies", func(t *testing.T) {
		line, ok := m.reload(rules{mode: "selected", untrustProxy: true})
		if !ok {
			t.Logf("moat refuses trusted_proxies changes on reload: %s", line)
			return
		}
		expect(t, tp, "after a reload that removed the proxy from trusted_proxies (moat said it reloaded)", []expectation{
			{caseOf(fromInternet, viaReverseProxy), deniedFirewall},
			{caseOf(fromInternet, viaBalancer), dropped},
		})
	})
}

type expectation struct {
	c    matrixCase
	want outcome
}

// expect makes the calls on both families concurrently and checks them.
func expect(t *testing.T, tp *topology, when string, es []expectation) {
	t.Helper()
	type result struct {
		e   expectation
		f   family
		got response
		err error
	}
	var rs []*result
	for _, e := range es {
		for _, f := range families() {
			rs = append(rs, &result{e: e, f: f})
		}
	}
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() { r.got, r.err = tp.call(r.e.c.namespace(tp), r.e.c.request(r.f)) })
	}
	wg.Wait()
	for _, r := range rs {
		if r.err != nil {
			t.Fatal(r.err)
		}
		if err := r.e.c.check(r.got, r.e.want); err != nil {
			t.Errorf("%s: %s on %s: %v", when, r.e.c.clientIP(r.f), r.e.c.listener(r.f), err)
		}
	}
}

// denialReason is the netpolicy reason moat counts for a denial outcome.
func denialReason(o outcome) string {
	switch o {
	case deniedDisabled:
		return "denied_public_disabled"
	case deniedFirewall:
		return "denied_firewall"
	case deniedNSG:
		return "denied_listener_sources"
	}
	return ""
}

var decisionLine = regexp.MustCompile(`^moat_network_decisions_total\{listener="([^"]*)",reason="([^"]*)"\} (\d+)$`)

// checkDenialMetrics reads moat_network_decisions_total from the management
// listener (from the vnet) and wants exactly the denials made, per listener
// and reason.
func checkDenialMetrics(t *testing.T, tp *topology, want map[[2]string]int) {
	c := matrixCase{from: fromVNet, route: toManagement, path: "/metrics"}
	got, err := tp.call(tp.vnet, c.request(families()[0]))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.check(got, metrics); err != nil {
		t.Fatal(err)
	}
	counted := map[[2]string]int{}
	for _, line := range strings.Split(got.Body, "\n") {
		m := decisionLine.FindStringSubmatch(line)
		if m == nil || !strings.HasPrefix(m[2], "denied_") {
			continue
		}
		n, _ := strconv.Atoi(m[3])
		if n > 0 {
			counted[[2]string{m[1], m[2]}] = n
		}
	}
	if diff := cmp.Diff(want, counted); diff != "" {
		t.Errorf("moat_network_decisions_total denials (-made +counted):\n%s", diff)
	}
}
