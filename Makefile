# moat — the two commands README.md leads with:
#   make run    runs moat on built-in defaults (simulator upstream, SQLite in ./moat-data)
#   make test   runs every test, with the race detector, including the real-SDK,
#               PostgreSQL, Redis and network-namespace suites

GO ?= go
NODE_SDK_DIR := test/sdk/node
NODE_DASHBOARD_DIR := test/dashboard

.PHONY: run build dist test test-go node-deps vet bench fuzz clean

# Build stamps: `moat version` and moat_build_info report them.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
# The commit's time, not the build's, so the same commit builds the same bytes.
DATE    ?= $(shell TZ=UTC git log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
STAMP   := github.com/moat-gw/moat/internal/cli
LDFLAGS := -s -w -X $(STAMP).Version=$(VERSION) -X $(STAMP).Commit=$(COMMIT) -X $(STAMP).Date=$(DATE)
PLATFORMS ?= linux/amd64 linux/arm64

run:
	$(GO) run -ldflags '$(LDFLAGS)' ./cmd/moat serve

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/moat ./cmd/moat

# dist builds the offline release: static binaries for each platform, the
# example config, the systemd unit, an SBOM and SHA256SUMS, one tar.gz per
# platform in dist/ (see packaging/README.md and README's offline install).
dist:
	VERSION='$(VERSION)' LDFLAGS='$(LDFLAGS)' PLATFORMS='$(PLATFORMS)' GO='$(GO)' packaging/dist.sh

node-deps: $(NODE_SDK_DIR)/node_modules/.package-lock.json $(NODE_DASHBOARD_DIR)/node_modules/.package-lock.json

$(NODE_SDK_DIR)/node_modules/.package-lock.json: $(NODE_SDK_DIR)/package.json $(NODE_SDK_DIR)/package-lock.json
	cd $(NODE_SDK_DIR) && npm ci --no-audit --no-fund

$(NODE_DASHBOARD_DIR)/node_modules/.package-lock.json: $(NODE_DASHBOARD_DIR)/package.json $(NODE_DASHBOARD_DIR)/package-lock.json
	cd $(NODE_DASHBOARD_DIR) && npm ci --no-audit --no-fund

test: node-deps vet
	$(GO) test -race -shuffle=on -count=1 -timeout 30m ./...

vet:
	@test -z "$$(gofmt -l cmd internal)" || (gofmt -l cmd internal; echo "gofmt needed"; exit 1)
	$(GO) vet ./...

# bench runs the Go benchmarks; bench/run.sh measures moat end to end
# (latency, throughput, CPU and memory against a direct call, docs/benchmarks.md).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/... ./bench/...

clean:
	rm -rf bin dist moat-data
