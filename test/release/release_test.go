// Package release_test builds the offline release with `make dist`, unpacks
// it and runs the binary in a network namespace with no network at all, as
// on an air-gapped host.
package release_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const testVersion = "v0.0.0-releasetest"

func TestOfflineRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a release")
	}
	if _, err := exec.LookPath("make"); err != nil {
		need(t, "make: %v", err)
	}
	if err := exec.Command("unshare", "-n", "true").Run(); err != nil {
		need(t, "unshare -n (a network namespace) is not available: %v", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	platform := "linux/" + runtime.GOARCH
	cmd := exec.Command("make", "-C", root, "dist", "VERSION="+testVersion, "COMMIT=0123456789abcdef",
		"DATE=2026-01-02T03:04:05Z", "PLATFORMS="+platform)
	cmd.Env = append(os.Environ(), "DIST_DIR="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make dist: %v\n%s", err, b)
	}

	name := "moat_" + testVersion + "_linux_" + runtime.GOARCH
	archive := filepath.Join(out, name+".tar.gz")
	sums, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	image, err := os.ReadFile(filepath.Join(out, name+".oci.tar"))
	if err != nil {
		t.Fatal(err)
	}
	sum, isum := sha256.Sum256(data), sha256.Sum256(image)
	if want := hex.EncodeToString(sum[:]) + "  " + name + ".tar.gz\n" + hex.EncodeToString(isum[:]) + "  " + name + ".oci.tar\n"; string(sums) != want {
		t.Errorf("SHA256SUMS = %q, want %q", sums, want)
	}

	dir := t.TempDir()
	files := untar(t, data, dir)
	for _, f := range []string{"moat", "moat.example.yaml", "moat.service", "moat.cdx.json", "INSTALL.md", "SHA256SUMS"} {
		if !files[name+"/"+f] {
			t.Errorf("archive lacks %s (has %v)", f, files)
		}
	}
	pkg := filepath.Join(dir, name)
	bin := filepath.Join(pkg, "moat")
	checkStatic(t, bin)
	check := exec.Command("sha256sum", "-c", "SHA256SUMS")
	check.Dir = pkg
	if b, err := check.CombinedOutput(); err != nil {
		t.Errorf("inner SHA256SUMS: %v\n%s", err, b)
	}
	checkSBOM(t, filepath.Join(pkg, "moat.cdx.json"))
	binary, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	checkOCI(t, image, binary)

	offline := func(args ...string) (string, error) {
		c := exec.Command("unshare", append([]string{"-n", bin}, args...)...)
		c.Dir = pkg
		c.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}
		var buf bytes.Buffer
		c.Stdout, c.Stderr = &buf, &buf
		err := c.Run()
		return buf.String(), err
	}
	v, err := offline("version")
	if err != nil || !strings.Contains(v, "moat "+testVersion) || !strings.Contains(v, "0123456789abcdef") ||
		!strings.Contains(v, "2026-01-02T03:04:05Z") {
		t.Errorf("moat version offline: %v\n%s", err, v)
	}
	if got, err := offline("config", "validate", "--config", "moat.example.yaml", "--no-secrets"); err != nil || !strings.Contains(got, ": ok") {
		t.Errorf("config validate offline: %v\n%s", err, got)
	}
}

// need fails in CI, where every dependency must be present, and skips elsewhere.
func need(t *testing.T, format string, a ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format, a...)
	}
	t.Skipf(format, a...)
}

func untar(t *testing.T, data []byte, dir string) map[string]bool {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	files := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s owned by %d:%d, want 0:0", h.Name, h.Uid, h.Gid)
		}
		p := filepath.Join(dir, h.Name)
		if !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			t.Fatalf("archive entry %q escapes", h.Name)
		}
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		files[strings.TrimSuffix(h.Name, "/")] = true
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, os.FileMode(h.Mode)&0o777); err != nil {
			t.Fatal(err)
		}
	}
}

// checkStatic fails when the binary needs a dynamic loader (libc).
func checkStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked", bin)
		}
	}
}

func checkSBOM(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var bom struct {
		BOMFormat   string
		SpecVersion string
		Metadata    struct {
			Component struct{ Name, Version string }
		}
		Components []struct{ Name, Version, PURL string }
	}
	if err := json.Unmarshal(b, &bom); err != nil {
		t.Fatal(err)
	}
	if bom.BOMFormat != "CycloneDX" || bom.Metadata.Component.Version != testVersion {
		t.Errorf("sbom header %+v", bom)
	}
	found := false
	for _, c := range bom.Components {
		if c.Name == "go.yaml.in/yaml/v3" && strings.HasPrefix(c.PURL, "pkg:golang/go.yaml.in/yaml/v3@v") {
			found = true
		}
	}
	if !found {
		t.Errorf("sbom lacks go.yaml.in/yaml/v3 among %d components", len(bom.Components))
	}
}
