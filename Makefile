# nginx-upgrade. Every target installs what it needs (as root, on Debian 12).
GO      ?= $(shell command -v go || echo /usr/local/go/bin/go)
BIN     := bin/nginx-upgradectl
export PATH := $(dir $(GO)):$(PATH)

.PHONY: all build deps test unit fuzz demo bench install clean

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
	FUZZTIME=3s GO=$(GO) bash testdata/fuzz.sh

# Every fuzz target of a parser of outside input, FUZZTIME each (`make fuzz FUZZTIME=60s`).
fuzz:
	GO=$(GO) bash testdata/fuzz.sh

# Pure-logic tests only: seconds, no root, no nginx.
unit:
	$(GO) test -count=1 ./internal/nginx/ ./internal/upgrade/ ./internal/health/ ./internal/wait/ ./internal/bench/

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

# Every way of swapping nginx side by side under the same load, medians of 3: docs/bench/
# (results.md, results.json, one timeline SVG per method); the package rows run in containers
# with our .deb from `make package`. About 10 minutes;
# BENCH_FLAGS='-methods debian-package-stock,debian-package-ours' runs only the package rows,
# BENCH_FLAGS='-scale-only -out docs/bench/scale' the scale rows instead. The Go benchmarks show what finding a master's workers costs as /proc grows, and its listeners among many sockets.
bench: deps build package
	$(GO) run ./cmd/upgrade-bench -ctl $(BIN) -deb "$$(ls $(DIST)/nginx-upgrade_*.deb)" -out docs/bench $(BENCH_FLAGS)
	$(GO) test -run '^$$' -bench . -benchtime 20x ./internal/bench/ ./internal/health/

clean:
	rm -rf bin dist

# The .deb and the .rpm of nginx-upgrade (nfpm.yaml) in $(DIST). PKG_BIN packages another build
# of the helper: the tests package the very binary they test. nfpm is pinned, built through the
# Go module proxy into bin/ (v2.46 and later need modules the proxy does not serve here).
NFPM_VERSION := v2.45.2
NFPM        := bin/nfpm-$(NFPM_VERSION)/nfpm
PKG_BIN     ?= $(BIN)
PKG_VERSION ?= 0.1.0
DIST        ?= dist
.PHONY: package
package: $(NFPM) $(if $(filter $(BIN),$(PKG_BIN)),build)
	mkdir -p $(DIST)
	rm -f $(DIST)/nginx-upgrade_*.deb $(DIST)/nginx-upgrade-*.rpm
	for fmt in deb rpm; do \
		NGINX_UPGRADECTL=$(PKG_BIN) PKG_VERSION=$(PKG_VERSION) PKG_ARCH=$$($(GO) env GOARCH) \
			$(NFPM) package -f nfpm.yaml -p $$fmt -t $(DIST)/ || exit 1; \
	done
	ls -l $(DIST)/nginx-upgrade_*.deb $(DIST)/nginx-upgrade-*.rpm

$(NFPM):
	GOBIN=$(abspath $(dir $(NFPM))) $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
