# nginx-upgrade. Every target installs what it needs (as root, on Debian 12).
GO      ?= $(shell command -v go || echo /usr/local/go/bin/go)
BIN     := bin/nginx-upgradectl
export PATH := $(dir $(GO)):$(PATH)

.PHONY: all build host-deps deps test lint unit unit-race fuzz demo bench install clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/nginx-upgradectl

# Host tools and the two Debian nginx builds the tests swap between (all the demo needs).
host-deps:
	bash testdata/host-deps.sh

# Everything the end-to-end suites need: host-deps and the golden tree the containers boot.
deps: host-deps
	bash testdata/container/golden.sh

# The linters make test runs, pinned, built through the Go module proxy into bin/.
STATICCHECK_VERSION := v0.8.2
STATICCHECK         := bin/staticcheck-$(STATICCHECK_VERSION)/staticcheck
$(STATICCHECK):
	GOBIN=$(abspath $(dir $(STATICCHECK))) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# Every test, the end-to-end suites against real nginx builds under real load, systemd in
# containers, dpkg, apt and ansible-playbook (-tags e2e: there a missing part fails, never
# skips). Packages run one at a time: they measure failed requests under load on a 2-core
# machine and must not compete with each other.
test: deps lint unit-race
	$(GO) test -tags e2e -p 1 -count=1 -timeout 40m ./...
	FUZZTIME=3s GO=$(GO) bash testdata/fuzz.sh

# Formatting, vet (with and without the e2e suites) and staticcheck; the .deb through lintian.
lint: $(STATICCHECK) lint-deb
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l: not formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./...
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags e2e ./...

# The hermetic tests: what `go test ./...` runs as any user, offline, in under a minute.
unit:
	$(GO) test -count=1 ./...

# The same once more under the race detector.
unit-race:
	$(GO) test -race -count=1 ./...

# Every fuzz target of a parser of outside input, FUZZTIME each (`make fuzz FUZZTIME=60s`).
fuzz:
	GO=$(GO) bash testdata/fuzz.sh

# A live upgrade of a real nginx under load, with the result printed.
demo: build
	bash testdata/host-deps.sh demo
	$(GO) run ./internal/lab/cmd/upgrade-demo -ctl $(BIN)

# The package, the one list of what goes where (nfpm.yaml): `make install` builds it and
# installs it with the system's package manager (apt-get for the .deb, which brings its
# dependencies; rpm without dpkg), its scripts loading the units. With DESTDIR, the package's
# files are unpacked there instead (dpkg-deb -x, or rpm2cpio without dpkg), no script run.
install: package
	@set -e; deb=$$(ls $(abspath $(DIST))/nginx-upgrade_*.deb); rpm=$$(ls $(abspath $(DIST))/nginx-upgrade-*.rpm); \
	if [ -n "$(DESTDIR)" ]; then \
		mkdir -p "$(DESTDIR)"; \
		if command -v dpkg-deb >/dev/null; then echo "dpkg-deb -x $$deb $(DESTDIR)"; dpkg-deb -x "$$deb" "$(DESTDIR)"; \
		else echo "rpm2cpio $$rpm | cpio -idm"; rpm2cpio "$$rpm" | (cd "$(DESTDIR)" && cpio -idm --quiet); fi; \
	elif command -v apt-get >/dev/null; then \
		echo "apt-get install --reinstall $$deb"; DEBIAN_FRONTEND=noninteractive apt-get install -y -q --reinstall "$$deb"; \
	elif command -v dpkg >/dev/null; then echo "dpkg -i $$deb"; dpkg -i "$$deb"; \
	else echo "rpm -U $$rpm"; rpm -U --replacepkgs "$$rpm"; fi

# Every way of swapping nginx side by side under the same load, medians of 3, then the scale
# axes (configuration size, TLS session resumption, growth with workers, connections and
# processes): docs/bench/ (results.md, results.json, one timeline SVG per method, axis-*.svg); the
# package rows run in containers with our .deb from `make package`. About 48 minutes here: the
# method, library and release-upgrade rows took 26 of them in one run, the axes about 22 timed
# alone (the README has each part's time); BENCH_FLAGS='-axis tls -out docs/bench/tls' runs one axis, and
# BENCH_FLAGS='-axis growth -points idle=50000 -out DIR' one point of it,
# BENCH_FLAGS='-methods debian-package-stock,debian-package-ours' only the package rows,
# BENCH_FLAGS='-axis scale -out docs/bench/scale' the older scale rows (100 swaps in a row). The Go benchmarks show what finding a master's workers costs as /proc grows, and its listeners among many sockets.
bench: deps build package
	$(GO) run ./internal/lab/cmd/upgrade-bench -ctl $(BIN) -deb "$$(ls $(DIST)/nginx-upgrade_*.deb)" -out docs/bench $(BENCH_FLAGS)
	$(GO) test -tags e2e -run '^$$' -bench . -benchtime 20x ./internal/lab/bench/ ./internal/health/

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
# Files the package carries that packaging/gen.sh makes: the man page, copyright, changelog.
PKG_GEN     := $(DIST)/gen
.PHONY: package lint-deb
package: $(NFPM) $(if $(filter $(BIN),$(PKG_BIN)),build)
	mkdir -p $(DIST)
	rm -f $(DIST)/nginx-upgrade_*.deb $(DIST)/nginx-upgrade-*.rpm
	GO=$(GO) sh packaging/gen.sh $(PKG_GEN)
	for fmt in deb rpm; do \
		NGINX_UPGRADECTL=$(PKG_BIN) PKG_GEN=$(PKG_GEN) PKG_VERSION=$(PKG_VERSION) PKG_ARCH=$$($(GO) env GOARCH) \
			$(NFPM) package -f nfpm.yaml -p $$fmt -t $(DIST)/ || exit 1; \
	done
	ls -l $(DIST)/nginx-upgrade_*.deb $(DIST)/nginx-upgrade-*.rpm

# lintian (Debian's) on the .deb: fails on any error or warning not overridden, each override
# with its reason, in packaging/deb/lintian-overrides (shipped in the package).
lint-deb: package
	command -v lintian >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q lintian
	lintian --display-info --fail-on error,warning $(DIST)/nginx-upgrade_*.deb

$(NFPM):
	GOBIN=$(abspath $(dir $(NFPM))) $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
