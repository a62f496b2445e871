package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/moat-gw/moat/internal/simulator"
	"github.com/moat-gw/moat/internal/tokens"
)

// runSimulator serves the simulator alone, for load-testing apps offline or
// as an upstream of another moat.
func runSimulator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	def := simulator.DefaultOptions()
	fs := newFlags("simulator", stderr)
	addr := fs.String("addr", "127.0.0.1:8000", "address to listen on")
	deps := fs.String("deployments", "", "comma-separated deployment names (default: gpt-4o-mini,gpt-4o,text-embedding-3-small,claude-sonnet-4-6); the name's model family decides what each serves (text-embedding-* embeddings, claude-* the Anthropic Messages API, chat otherwise)")
	ttft := fs.Duration("ttft", def.Latency.TimeToFirstToken, "time to first token")
	tps := fs.Float64("tps", def.Latency.TokensPerSecond, "tokens per second after the first (0 = instant)")
	jitter := fs.Float64("jitter", def.Latency.Jitter, "latency jitter fraction, 0..1")
	tpm := fs.Int("tpm", -1, "tokens-per-minute limit per deployment (0 = unlimited; default: Azure-like per-deployment quotas)")
	rpm := fs.Int("rpm", -1, "requests-per-minute limit per deployment (0 = unlimited)")
	errRate := fs.Float64("error-rate", 0, "fraction of calls answered 500")
	toRate := fs.Float64("timeout-rate", 0, "fraction of calls that hang")
	dropRate := fs.Float64("drop-rate", 0, "fraction of streams cut before [DONE]")
	rlRate := fs.Float64("ratelimit-rate", 0, "fraction of calls answered 429 at random")
	seed := fs.Int64("seed", def.Seed, "seed for generated text, vectors, IDs and faults (give each simulator of one pool its own)")
	batchTime := fs.Duration("batch-time", simulator.DefaultBatchTime, "how long a batch takes from validating to completed")
	keyEnv := fs.String("api-key-env", "", "environment variable holding the API key clients must send (default: any key accepted)")
	if err := parse(fs, args); err != nil {
		return err
	}
	opts := def
	if *deps != "" {
		opts.Deployments = nil
		for _, name := range strings.Split(*deps, ",") {
			name = strings.TrimSpace(name)
			opts.Deployments = append(opts.Deployments, simulator.Deployment{Name: name, Model: name, Kind: simulator.KindOf(name)})
		}
	}
	for i := range opts.Deployments {
		if *tpm >= 0 {
			opts.Deployments[i].TPM = *tpm
		}
		if *rpm >= 0 {
			opts.Deployments[i].RPM = *rpm
		}
	}
	opts.Latency = simulator.Latency{TimeToFirstToken: *ttft, TokensPerSecond: *tps, Jitter: *jitter}
	opts.Faults = simulator.Faults{ErrorRate: *errRate, TimeoutRate: *toRate, DropStreamRate: *dropRate, RateLimitRate: *rlRate}
	opts.Seed = *seed
	opts.BatchTime = *batchTime
	if *keyEnv != "" {
		v, ok := os.LookupEnv(*keyEnv)
		if !ok || v == "" {
			return fmt.Errorf("environment variable %s is empty", *keyEnv)
		}
		opts.APIKey = v
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	sim, err := simulator.New(opts, tokens.New(), log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	names := []string{}
	for _, d := range opts.Deployments {
		names = append(names, d.Name)
	}
	fmt.Fprintf(stdout, "moat simulator serving Azure OpenAI and Anthropic Messages on http://%s (deployments: %s)\n", ln.Addr(), strings.Join(names, ", "))
	return serveUntil(ctx, ln, sim)
}
