// Command ociimage writes an OCI image, as an OCI image-layout tarball
// (what `skopeo copy oci-archive:…`, `podman load` and containerd's
// `ctr image import` read), from moat's static binary alone: no daemon,
// no base image to download, one layer holding /moat and the example
// config. The output is reproducible: fixed times, owners and order.
//
//	go run ./tools/ociimage -binary dist/moat -config moat.example.yaml -arch amd64 -tag v1.2.3 -o moat.oci.tar
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

const (
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
	mediaIndex    = "application/vnd.oci.image.index.v1+json"
)

func run(args []string) error {
	fs := flag.NewFlagSet("ociimage", flag.ContinueOnError)
	bin := fs.String("binary", "", "static moat binary (required)")
	cfgFile := fs.String("config", "", "example config, installed as /etc/moat/moat.yaml")
	arch := fs.String("arch", "amd64", "GOARCH of the binary")
	tag := fs.String("tag", "latest", "image tag (org.opencontainers.image.ref.name)")
	created := fs.String("created", "1970-01-01T00:00:00Z", "creation time (RFC 3339), for reproducible images")
	out := fs.String("o", "", "output tarball (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bin == "" || *out == "" {
		return fmt.Errorf("-binary and -o are required")
	}
	when, err := time.Parse(time.RFC3339, *created)
	if err != nil {
		return fmt.Errorf("-created: %w", err)
	}
	files := []file{{name: "moat", mode: 0o755, path: *bin}}
	if *cfgFile != "" {
		files = append(files, file{name: "etc/moat/moat.yaml", mode: 0o644, path: *cfgFile})
	}
	layer, diffID, err := buildLayer(files, when)
	if err != nil {
		return err
	}
	config, err := json.Marshal(map[string]any{
		"created": when.UTC().Format(time.RFC3339), "architecture": *arch, "os": "linux",
		"config": map[string]any{
			"Entrypoint":   []string{"/moat"},
			"Cmd":          []string{"serve", "--config", "/etc/moat/moat.yaml"},
			"User":         "65532:65532", // no root inside the container
			"WorkingDir":   "/var/lib/moat",
			"ExposedPorts": map[string]any{"8443/tcp": map[string]any{}, "9443/tcp": map[string]any{}},
			"Labels":       map[string]string{"org.opencontainers.image.version": *tag},
		},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		"history": []map[string]string{{"created": when.UTC().Format(time.RFC3339), "created_by": "tools/ociimage"}},
	})
	if err != nil {
		return err
	}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": mediaManifest,
		"config": desc(mediaConfig, config), "layers": []descriptor{desc(mediaLayer, layer)},
	})
	if err != nil {
		return err
	}
	md := desc(mediaManifest, manifest)
	md.Platform = &platform{Architecture: *arch, OS: "linux"}
	md.Annotations = map[string]string{"org.opencontainers.image.ref.name": *tag}
	index, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mediaIndex, "manifests": []descriptor{md}})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	entries := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{blobPath(config), config},
		{blobPath(layer), layer},
		{blobPath(manifest), manifest},
	}
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: when, Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return os.WriteFile(*out, buf.Bytes(), 0o644)
}

type file struct {
	name string
	mode int64
	path string
}

// buildLayer returns the gzipped layer and the digest of its uncompressed
// tar (the config's diff_id).
func buildLayer(files []file, when time.Time) (gz []byte, diffID string, err error) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	dirs := map[string]bool{}
	for _, f := range files {
		for _, d := range parents(f.name) {
			if !dirs[d] {
				dirs[d] = true
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: when, Format: tar.FormatPAX}); err != nil {
					return nil, "", err
				}
			}
		}
		b, err := os.ReadFile(f.path)
		if err != nil {
			return nil, "", err
		}
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(b)), ModTime: when, Format: tar.FormatPAX}); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(b); err != nil {
			return nil, "", err
		}
	}
	// The working directory, writable by the container's user.
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "var/lib/moat/", Mode: 0o750, Uid: 65532, Gid: 65532, ModTime: when, Format: tar.FormatPAX}); err != nil {
		return nil, "", err
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(raw.Bytes())
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	if _, err := io.Copy(zw, &raw); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return out.Bytes(), "sha256:" + hex.EncodeToString(sum[:]), nil
}

func parents(name string) []string {
	var out []string
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			out = append(out, name[:i])
		}
	}
	return out
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func desc(mediaType string, b []byte) descriptor {
	return descriptor{MediaType: mediaType, Digest: digest(b), Size: int64(len(b))}
}

func blobPath(b []byte) string { return "blobs/sha256/" + digest(b)[len("sha256:"):] }
