# nginx-upgrade. Every target installs what it needs (as root, on Debian 12).
GO      ?= $(shell command -v go || echo /usr/local/go/bin/go)
BIN     := bin/nginx-upgradectl
export PATH := $(dir $(GO)):$(PATH)

.PHONY: all build deps test unit demo bench install clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/nginx-upgradectl

# Host tools, the two Debian nginx builds the tests swap between.
deps:
	bash testdata/host-deps.sh
	bash testdata/container/golden.sh

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

# Until the package does it: the helper, the units, the defaults (kept if present), the catalog.
PREFIX_UNITS := /usr/lib/systemd/system
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)/usr/sbin/nginx-upgradectl
	install -D -m 0644 systemd/nginx-upgrade.service $(DESTDIR)$(PREFIX_UNITS)/nginx-upgrade.service
	install -D -m 0644 systemd/nginx.service.d/nginx-upgrade.conf $(DESTDIR)$(PREFIX_UNITS)/nginx.service.d/nginx-upgrade.conf
	install -D -m 0644 systemd/nginx-reload.conf $(DESTDIR)/usr/share/nginx-upgrade/nginx-reload.conf
	install -D -m 0644 systemd/nginx-upgradectl.catalog $(DESTDIR)/usr/lib/systemd/catalog/nginx-upgradectl.catalog
	test -e $(DESTDIR)/etc/default/nginx-upgrade || install -D -m 0644 systemd/nginx-upgrade.default $(DESTDIR)/etc/default/nginx-upgrade
	if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; journalctl --update-catalog; fi

clean:
	rm -rf bin dist
