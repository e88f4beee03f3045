# nginx-upgrade. Every target installs what it needs (as root, on Debian 12).
GO      ?= $(shell command -v go || echo /usr/local/go/bin/go)
BIN     := bin/nginx-upgradectl
export PATH := $(dir $(GO)):$(PATH)

.PHONY: all build deps test unit demo bench clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/nginx-upgradectl

# Host tools, the two Debian nginx builds the tests swap between.
deps:
	bash testdata/host-deps.sh

# Every test, against real nginx builds under real load. Tests run one package at a time: they
# measure failed requests under load on a 2-core machine and must not compete with each other.
test: deps
	$(GO) vet ./...
	$(GO) test -p 1 -count=1 -timeout 25m ./...

# Pure-logic tests only: seconds, no root, no nginx.
unit:
	$(GO) test -count=1 ./internal/nginx/ ./internal/upgrade/ ./internal/health/

# A live upgrade of a real nginx under load, with the result printed.
demo: deps build
	$(GO) run ./cmd/upgrade-demo -ctl $(BIN)

clean:
	rm -rf bin dist
