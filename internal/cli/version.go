package cli

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Build stamps, set by `make build` and `make dist` with
// -ldflags "-X github.com/moat-gw/moat/internal/cli.Version=… -X ….Commit=… -X ….Date=…".
// They are the only package-level variables in moat: the linker can set
// nothing else.
var (
	Version = ""
	Commit  = ""
	Date    = ""
)

// buildInfo is what `moat version` reports.
type buildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

// build reports the binary's stamps, falling back to what the Go
// toolchain recorded (a `go install` or `go build` without ldflags).
func build() buildInfo {
	b := buildInfo{Version: Version, Commit: Commit, Date: Date, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && b.Commit == "":
				b.Commit = s.Value
			case s.Key == "vcs.time" && b.Date == "":
				b.Date = s.Value
			}
		}
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
	}
	if b.Version == "" {
		b.Version = "devel"
		if len(b.Commit) >= 12 {
			b.Version += "-" + b.Commit[:12]
		}
	}
	return b
}

// version is the build's version string.
func version() string { return build().Version }

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", stderr)
	out := outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	b := build()
	if out.json() {
		return printJSON(stdout, b)
	}
	fmt.Fprintf(stdout, "moat %s\n  commit:  %s\n  built:   %s\n  go:      %s %s\n", b.Version, dash(b.Commit), dash(b.Date), b.GoVersion, b.Platform)
	return nil
}
