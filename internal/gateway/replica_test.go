package gateway

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/fleet"
)

// TestFingerprint: what differs legitimately between replicas of one fleet
// (name, data dir, addresses) or is secret does not count; policy does.
func TestFingerprint(t *testing.T) {
	const base = `
listeners: [{name: data, address: '127.0.0.1:8080'}]
management: {listeners: [{name: mgmt, address: '127.0.0.1:9090', kind: private_endpoint}]}
auth: {disabled: true}
upstreams: [{name: az, type: azure, endpoint: 'https://x.openai.azure.com', api_key: SECRET}]
deployments: [{name: gpt-4o, upstreams: [{upstream: az}]}]
rate_limits: {rules: [{name: team, scope: key, tpm: 20000}]}
`
	fp := func(y string) string {
		t.Helper()
		s, err := Fingerprint(mustConfig(t, y))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	want := fp(base + "replica: {name: a}\ndata_dir: /x\n")
	tests := []struct {
		name string
		yaml string
		same bool
	}{
		{"other name, data dir and ports", strings.NewReplacer("8080", "18080", "9090", "19090").Replace(base) +
			"replica: {name: b, heartbeat: 5s}\ndata_dir: /y\n", true},
		{"other secret value", strings.Replace(base, "SECRET", "OTHER", 1) + "replica: {name: a}\ndata_dir: /x\n", true},
		{"other limit", strings.Replace(base, "20000", "10000", 1), false},
		{"other endpoint", strings.Replace(base, "https://x.", "https://y.", 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fp(tt.yaml); (got == want) != tt.same {
				t.Errorf("fingerprint %s vs %s, want same=%v", got, want, tt.same)
			}
		})
	}
	if strings.Contains(want, "SECRET") || len(want) != 16 {
		t.Fatalf("fingerprint %q", want)
	}
}

// TestStatusReportsReplicas: /status names this replica with its
// fingerprint and lists the replicas table, this one serving; the metric
// carries the same fingerprint.
func TestStatusReportsReplicas(t *testing.T) {
	ts := startServer(t, "replica: {name: moat-test-1, heartbeat: 50ms}")
	var rep struct {
		Replica  replicaInfo    `json:"replica"`
		Replicas []fleet.Status `json:"replicas"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(rep.Replicas) == 0 && time.Now().Before(deadline) {
		code, _, body := do(t, "GET", ts.mgmtURL+"/status", "")
		if code != 200 {
			t.Fatalf("status %d %s", code, body)
		}
		if err := json.Unmarshal([]byte(body), &rep); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	fp, err := Fingerprint(ts.cfg.Load())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Replica.Name != "moat-test-1" || rep.Replica.Fingerprint != fp {
		t.Fatalf("replica %+v, want fingerprint %s", rep.Replica, fp)
	}
	if len(rep.Replicas) != 1 {
		t.Fatalf("replicas %+v", rep.Replicas)
	}
	r := rep.Replicas[0]
	if r.Name != "moat-test-1" || r.Fingerprint != fp || r.State != fleet.StateServing || r.Version != "test" || r.Drift() {
		t.Fatalf("replica row %+v", r)
	}
	_, _, metrics := do(t, "GET", ts.mgmtURL+"/metrics", "")
	if want := `moat_config_info{fingerprint="` + fp + `",replica="moat-test-1",version="test"} 1`; !strings.Contains(metrics, want) {
		t.Fatalf("metrics lack %s", want)
	}
	// A call is logged with the replica's name.
	if code, _, body := do(t, "POST", ts.url+"/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21", chatBody); code != 200 {
		t.Fatalf("call: %d %s", code, body)
	}
	recs := ts.records()
	if len(recs) != 1 || recs[0].Replica != "moat-test-1" {
		t.Fatalf("records %+v", recs)
	}
}

func TestLimitsSummary(t *testing.T) {
	cfg := mustConfig(t, `auth: {disabled: true}
rate_limits: {rules: [
  {name: team, scope: key, tpm: 20000, rpm: 60},
  {name: daily, scope: principal, quota: 1000000, quota_period: day, deployments: [gpt-4o]}]}`)
	want := "daily[principal] deployments=gpt-4o quota=1000000/day; team[key] tpm=20000 rpm=60"
	if got := LimitsSummary(cfg); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestReloadKeepsReplicaName: the name keys the replicas table and every
// logged row, so a reload that changes it is refused and the old one stays.
func TestReloadKeepsReplicaName(t *testing.T) {
	ts := startServer(t, "replica: {name: a}")
	err := ts.Reload(mustConfig(t, completeConfig("replica: {name: b}", ts.cfg.Load().DataDir)))
	if err == nil || !strings.Contains(err.Error(), "replica.name") {
		t.Fatalf("reload to another name: %v", err)
	}
	if got := ts.cfg.Load().Replica.Name; got != "a" {
		t.Fatalf("name after the refused reload: %q", got)
	}
}
