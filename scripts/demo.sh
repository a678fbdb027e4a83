#!/usr/bin/env bash
# The demo behind `make demo`: `swarm demo` starts a gateway and three workers on loopback (the
# binary runs them as its own children), runs the built-in example job (examples/collatz.wasm)
# across them, prints the outcome with the per-worker breakdown, checks the value in-process,
# and keeps the mesh and its dashboard running until Ctrl-C. DEMO_ONCE=1 (in the environment,
# or `make demo DEMO_ONCE=1`) stops after the outcome: that is how the tests try it
# (tests/integration/test_demo.sh). Arguments and DEMO_ARGS go to `swarm demo` (see
# `build/swarm demo --help`); the examples one by one are in bench/.
set -euo pipefail
cd "$(dirname "$0")/.."

SWARM="${BUILD:-build}/swarm"
[ -x "$SWARM" ] || {
    echo "demo: $SWARM not built; run 'make build' first" >&2
    exit 1
}
export DEMO_ONCE=${DEMO_ONCE:-}
# shellcheck disable=SC2086 # DEMO_ARGS is words
exec "$SWARM" demo ${DEMO_ARGS:-} "$@"
