#!/usr/bin/env bash
# `make start`: run after setup. Starts the helper and shows a ruleset through stock iptables.
set -euo pipefail
cd "$(dirname "$0")/.."
node dist/src/cli.js help
