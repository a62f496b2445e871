package cli

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/moat-gw/moat/internal/config"
)

// configEnv names the config file when --config is not given.
const configEnv = "MOAT_CONFIG"

// configHelp is the --config flag's help, the same on every command, because
// every command finds its config the same way.
const configHelp = "config `file` (default: $" + configEnv + ", then ./moat.yaml, then the built-in simulator defaults)"

// configFlag adds --config to fs.
func configFlag(fs *flag.FlagSet) *string { return fs.String("config", "", configHelp) }

// findConfig is the one config discovery every command uses: --config, then
// $MOAT_CONFIG, then ./moat.yaml. "" means no file: the built-in defaults.
// One rule everywhere is what keeps `moat keys create` writing to the
// store that `moat serve` reads.
func findConfig(flagPath string) string {
	if flagPath != "" {
		return flagPath
	}
	if p := os.Getenv(configEnv); p != "" {
		return p
	}
	if fileExists("moat.yaml") {
		return "moat.yaml"
	}
	return ""
}

// loadConfig finds and loads the config. Without a file it warns on stderr
// that the built-in defaults are in force, so nobody mistakes the simulator
// for their deployments.
func loadConfig(flagPath string, stderr io.Writer) (*config.Config, string, error) {
	return loadConfigWith(flagPath, config.LoadOptions{}, stderr)
}

func loadConfigWith(flagPath string, o config.LoadOptions, stderr io.Writer) (*config.Config, string, error) {
	p := findConfig(flagPath)
	if p == "" {
		fmt.Fprintln(stderr, "moat: warning: no config file (--config, $"+configEnv+" or ./moat.yaml); "+
			"using the built-in defaults: simulator upstream, authentication off, SQLite in ./"+config.DefaultDataDir)
		return config.Default(), "", nil
	}
	cfg, err := config.LoadWith(p, o)
	return cfg, p, err
}

// fileExists reports whether path names a file.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
