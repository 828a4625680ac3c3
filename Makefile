# restic-manager build. `make run` starts the server on its embedded default;
# `make test` installs what the tests need and runs all of them.
#
# The server links mattn/go-sqlite3 and needs cgo (gcc); the agent builds with
# CGO_ENABLED=0 for every target.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X github.com/restic-manager/restic-manager/internal/version.Version=$(VERSION)
TOOLS    := $(CURDIR)/.tools/bin
GOLANGCI := $(TOOLS)/golangci-lint
GOFUMPT  := $(TOOLS)/gofumpt

.PHONY: all build server agent test lint fmt run release proto clean web

all: build

build: server agent

server:
	CGO_ENABLED=1 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/restic-manager ./core/cmd/restic-manager

agent:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/restic-manager-agent ./agent/cmd/restic-manager-agent

# test installs what the tests use that Go modules do not bring (restic,
# when no restic >= 0.14 is on PATH; protoc and its Go plugins, to check the
# generated SDK code is current), checks the committed UI assets are not
# stale (scripts/check-web.sh rebuilds them with Node), then vets and runs
# every test with the race detector.
test:
	@./scripts/check-web.sh
	@./scripts/install-protoc.sh
	@./scripts/install-chromium.sh >/dev/null
	@./scripts/install-test-tools.sh
	@RESTIC_BINARY="$$(./scripts/install-restic.sh)" && export RESTIC_BINARY && \
	echo "using restic at $$RESTIC_BINARY" && \
	$(GO) vet ./... && \
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 45m ./...

# run starts the server on its embedded default with a local agent and a
# local repository (scripts/run-local.sh); Ctrl-C stops both.
run: build
	./scripts/run-local.sh

$(GOLANGCI):
	GOBIN=$(TOOLS) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0

$(GOFUMPT):
	GOBIN=$(TOOLS) $(GO) install mvdan.cc/gofumpt@v0.12.0

lint: $(GOLANGCI)
	$(GOLANGCI) run ./...

fmt: $(GOFUMPT)
	$(GOFUMPT) -w $$(git ls-files '*.go' | grep -v '\.pb\.go$$')

release:
	VERSION=$(VERSION) ./scripts/release.sh

# web rebuilds the UI's committed assets: web/static/app.css from
# web/src/app.css (Tailwind 4, scanning web/templates) and the htmx file and
# licence pinned in web/package.json. Needs Node and npm; commit the output.
web:
	cd web && npm ci --no-audit --no-fund && npm run build

# proto regenerates the SDK's gRPC code from sdk/*/proto/*.proto.
proto:
	./scripts/install-protoc.sh
	./scripts/gen-proto.sh

clean:
	rm -rf bin dist
