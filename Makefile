# The two commands a fresh Debian 12 machine needs: `make start` and `make test`.
# Both run the whole set-up first (apt packages if missing, npm ci, TypeScript and native builds).

.PHONY: start test test-kmod setup build lint bench clean diff soak fuzz install uninstall

setup:
	@scripts/setup.sh

build:
	npx tsc -p tsconfig.json
	$(MAKE) -s -C native

start: setup
	@scripts/start.sh

test: setup lint
	@mkdir -p build
	NO_COLOR=1 npx vitest run --reporter=default --reporter=json --outputFile.json=build/vitest.json; \
	  status=$$?; node scripts/test-summary.mjs build/vitest.json && exit $$status

# bpfilter.ko against the 6.1 and 6.12 headers, then end to end in a 6.12 guest (also in `make test`).
test-kmod: setup
	@scripts/kmod-vm.sh

lint:
	npx eslint .
	npx prettier --check --log-level warn .

bench: setup
	node dist/bench/run.js

# The differential harness (kernel iptables-legacy vs our BPF). Replay a run: make diff SEED=S
# [CASE=I] [KIND=small|big|jumps]; soak for DURATION seconds (default an hour) from a fresh or
# given SEED.
diff: build
	node dist/test/differential/runner.js --rulesets $(or $(RULESETS),200) \
	  $(if $(KIND),--kind $(KIND)) $(if $(SEED),--seed $(SEED)) $(if $(CASE),--case $(CASE))

soak: build
	node dist/test/differential/runner.js --seconds $(or $(DURATION),3600) \
	  $(if $(KIND),--kind $(KIND)) $(if $(SEED),--seed $(SEED))

# Sockopt fuzzing, the kernel against the daemon (docs/fuzz.md): CASES mutated requests (default
# a million) from a fresh or given SEED; replay one with SEED=S CASE=I (and KEEP=K if it was set).
fuzz: build
	node dist/test/fuzz/runner.js --cases $(or $(CASES),1000000) $(if $(SEED),--seed $(SEED)) \
	  $(if $(CASE),--case $(CASE)) $(if $(KEEP),--keep $(KEEP))

# Installed like a system firewall (docs/install.md): PREFIX (default /usr/local), DESTDIR for
# staging; ALTDIR, ADMINDIR and LINKDIR for update-alternatives somewhere else than the system's;
# INSTALL_ARGS for the rest (--socket, --pin-root, --state-dir, --no-systemctl, --no-alternative).
INSTALL_FLAGS = $(if $(PREFIX),--prefix $(PREFIX)) $(if $(DESTDIR),--destdir $(DESTDIR)) \
  $(if $(ALTDIR),--altdir $(ALTDIR)) $(if $(ADMINDIR),--admindir $(ADMINDIR)) \
  $(if $(LINKDIR),--linkdir $(LINKDIR)) $(INSTALL_ARGS)

install: setup
	@node dist/src/cli.js install $(INSTALL_FLAGS)

uninstall:
	@node dist/src/cli.js uninstall $(if $(PREFIX),--prefix $(PREFIX)) $(if $(DESTDIR),--destdir $(DESTDIR))

clean:
	rm -rf dist
	$(MAKE) -s -C native clean
