#!/usr/bin/env bash
# dist.sh builds moat's offline release into dist/ (run it through `make dist`):
# for each platform a tar.gz holding a static binary, the example config, the
# systemd unit, an SBOM and the offline install notes, and an OCI image
# tarball of the same binary; SHA256SUMS covers them. Nothing here touches the network beyond what `go build` needs for
# modules already in the module cache.
set -euo pipefail
cd "$(dirname "$0")/.."

GO="${GO:-go}"
VERSION="${VERSION:?VERSION is required}"
LDFLAGS="${LDFLAGS:?LDFLAGS is required}"
PLATFORMS="${PLATFORMS:-linux/amd64 linux/arm64}"
OUT="${DIST_DIR:-dist}"
DATE="$(sed -n 's/.*\.Date=\([^ ]*\).*/\1/p' <<<"$LDFLAGS")"

mkdir -p "$OUT"
archives=()
for platform in $PLATFORMS; do
  os="${platform%/*}" arch="${platform#*/}"
  name="moat_${VERSION}_${os}_${arch}"
  stage="$OUT/$name"
  rm -rf "$stage"
  mkdir -p "$stage"
  echo "building $name"
  CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" "$GO" build -trimpath -ldflags "$LDFLAGS" -o "$stage/moat" ./cmd/moat
  "$GO" run ./tools/sbom -date "$DATE" -version "$VERSION" "$stage/moat" >"$stage/moat.cdx.json"
  cp moat.example.yaml "$stage/moat.example.yaml"
  cp packaging/moat.service "$stage/moat.service"
  cp packaging/INSTALL.md "$stage/INSTALL.md"
  (cd "$stage" && sha256sum moat moat.cdx.json moat.example.yaml moat.service INSTALL.md >SHA256SUMS)
  # Reproducible archive: fixed order, owner and times.
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="${DATE:-1970-01-01T00:00:00Z}" \
    -C "$OUT" -czf "$OUT/$name.tar.gz" "$name"
  # An OCI image of the same binary, written without a daemon or a base image.
  "$GO" run ./tools/ociimage -binary "$stage/moat" -config moat.example.yaml -arch "$arch" -tag "$VERSION" \
    -created "${DATE:-1970-01-01T00:00:00Z}" -o "$OUT/$name.oci.tar"
  rm -rf "$stage"
  archives+=("$name.tar.gz" "$name.oci.tar")
done
(cd "$OUT" && sha256sum "${archives[@]}" >SHA256SUMS)
echo "dist: $OUT/SHA256SUMS"
cat "$OUT/SHA256SUMS"
