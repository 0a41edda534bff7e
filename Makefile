# The two commands a fresh Debian 12 machine needs: `make start` and `make test`.
# Both run the whole set-up first (apt packages if missing, npm ci, TypeScript and native builds).

.PHONY: start test setup build lint bench clean

setup:
	@scripts/setup.sh

build:
	npx tsc -p tsconfig.json
	$(MAKE) -s -C native

start: setup
	@scripts/start.sh

test: setup
	npx vitest run

lint:
	npx eslint . && npx prettier --check .

bench: setup
	node dist/bench/run.js

clean:
	rm -rf dist
	$(MAKE) -s -C native clean
