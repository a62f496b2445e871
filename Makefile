# moat — the two commands README.md leads with:
#   make run    runs moat on built-in defaults (simulator upstream, SQLite in ./moat-data)
#   make test   runs every test, with the race detector, including the real-SDK,
#               PostgreSQL, Redis and network-namespace suites

GO ?= go
NODE_SDK_DIR := test/sdk/node
NODE_DASHBOARD_DIR := test/dashboard

.PHONY: run build test test-go node-deps vet bench fuzz clean

run:
	$(GO) run ./cmd/moat serve

build:
	$(GO) build -o bin/moat ./cmd/moat

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
	rm -rf bin moat-data
