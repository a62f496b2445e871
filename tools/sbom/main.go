// Command sbom writes a CycloneDX 1.5 JSON software bill of materials for a
// Go binary, from the module list the Go toolchain embeds in every binary
// (what `go version -m` prints). It needs no network, so `make dist` can
// run on an air-gapped build host.
//
//	go run ./tools/sbom -date 2026-01-02T03:04:05Z bin/moat > moat.cdx.json
package main

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sbom:", err)
		os.Exit(1)
	}
}

type bom struct {
	BOMFormat    string      `json:"bomFormat"`
	SpecVersion  string      `json:"specVersion"`
	SerialNumber string      `json:"serialNumber"`
	Version      int         `json:"version"`
	Metadata     metadata    `json:"metadata"`
	Components   []component `json:"components"`
}

type metadata struct {
	Timestamp string    `json:"timestamp,omitempty"`
	Component component `json:"component"`
}

type component struct {
	Type       string     `json:"type"`
	BOMRef     string     `json:"bom-ref"`
	Name       string     `json:"name"`
	Version    string     `json:"version"`
	PURL       string     `json:"purl"`
	Hashes     []hash     `json:"hashes,omitempty"`
	Properties []property `json:"properties,omitempty"`
}

type hash struct {
	Alg     string `json:"alg"`
	Content string `json:"content"`
}

type property struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func run(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("sbom", flag.ContinueOnError)
	date := fs.String("date", "", "build timestamp (RFC 3339) to record")
	version := fs.String("version", "", "the application's version (default: from the binary)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: sbom [-date T] [-version V] BINARY")
	}
	b, err := sbomFor(fs.Arg(0), *version, *date)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(b)
}

func sbomFor(path, version, date string) (*bom, error) {
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: no Go build information: %w", path, err)
	}
	sum := sha256.Sum256(bin)
	if version == "" {
		version = info.Main.Version
	}
	app := component{Type: "application", Name: info.Main.Path, Version: version,
		Hashes:     []hash{{Alg: "SHA-256", Content: hex.EncodeToString(sum[:])}},
		Properties: []property{{Name: "go:toolchain", Value: info.GoVersion}, {Name: "go:package", Value: info.Path}}}
	app.PURL = purl(app.Name, version)
	app.BOMRef = app.PURL
	for _, s := range info.Settings {
		switch s.Key {
		case "GOOS", "GOARCH", "CGO_ENABLED", "-trimpath", "vcs.revision", "vcs.time", "vcs.modified":
			app.Properties = append(app.Properties, property{Name: "go:build:" + s.Key, Value: s.Value})
		}
	}
	out := &bom{BOMFormat: "CycloneDX", SpecVersion: "1.5", Version: 1,
		// The serial number is derived from the binary, so the same build
		// yields the same SBOM (reproducible releases).
		SerialNumber: "urn:uuid:" + uuidFrom(sum[:]),
		Metadata:     metadata{Timestamp: date, Component: app},
		Components:   []component{}}
	for _, d := range info.Deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		c := component{Type: "library", Name: m.Path, Version: m.Version, PURL: purl(m.Path, m.Version)}
		c.BOMRef = c.PURL
		if m.Sum != "" {
			// h1: is the Go checksum database's hash of the module tree,
			// not a file hash, so it is a property, not a "hashes" entry.
			c.Properties = append(c.Properties, property{Name: "go:module:sum", Value: m.Sum})
		}
		if d.Replace != nil {
			c.Properties = append(c.Properties, property{Name: "go:module:replaces", Value: d.Path + "@" + d.Version})
		}
		out.Components = append(out.Components, c)
	}
	return out, nil
}

// purl is a Go module's package URL (github.com/package-url/purl-spec).
func purl(path, version string) string {
	p := "pkg:golang/" + strings.ReplaceAll(path, "@", "%40")
	if version != "" {
		p += "@" + version
	}
	return p
}

// uuidFrom shapes 16 bytes of a hash as a version-5-style UUID.
func uuidFrom(h []byte) string {
	u := make([]byte, 16)
	copy(u, h)
	u[6] = (u[6] & 0x0f) | 0x50
	u[8] = (u[8] & 0x3f) | 0x80
	x := hex.EncodeToString(u)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}
