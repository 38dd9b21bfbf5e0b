# patchday: run `make run` to start a server, `make test` to run every test.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/patchday/patchday/internal/cli.Version=$(VERSION) -X main.version=$(VERSION)

.PHONY: run build test bench clean

## run: build and start the server with the demo catalog, on SQLite in ./patchday-data, at http://127.0.0.1:8080
run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/patchday demo

## build: build bin/patchday and bin/patchday-agent
build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o bin/ ./cmd/patchday ./cmd/patchday-agent

## test: every test, on SQLite and on a throwaway PostgreSQL (see scripts/test.sh)
test:
	scripts/test.sh

## bench: the benchmarks recorded in docs/BENCHMARKS.md
bench:
	scripts/bench-api.sh
	scripts/bench-catalog.sh
	scripts/bench-agents.sh
	scripts/bench-fleet.sh

clean:
	rm -rf bin
