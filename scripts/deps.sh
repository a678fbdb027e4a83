#!/usr/bin/env bash
# Installs what Swarm's build and tests need, on Debian (apt-get) or Termux (pkg).
# Idempotent: checks first, and only touches the package manager when something is missing.
# Prints one summary line. Exits non-zero with a reason when it cannot install.
set -euo pipefail

# --- the package lists: the one place to add a dependency (and say why in docs/DEPENDENCIES.md)
DEBIAN_PACKAGES=(
    cmake make gcc pkg-config # build
    clang lld                 # wasm32 examples, the ASan build, libFuzzer
    libclang-rt-dev           # ASan/UBSan/libFuzzer runtimes for the default clang
    wabt                      # wast2json for the spec suite, wat2wasm for tests
    libcjson-dev              # JSON (spectest runner, HTTP API)
    libuv1-dev                # event loop, TCP (libp2p transport)
    libsodium-dev             # Ed25519, X25519, ChaCha20-Poly1305, SHA-256 (Noise)
    libprotobuf-c-dev protobuf-c-compiler # libp2p protobuf messages
    jq                        # test scripts read `swarm node` JSON-lines events
    libwebsockets-dev         # the gateway's HTTP server, on our libuv loop
    libsqlite3-dev            # the gateway's job store
    curl                      # tests and docs talk to the HTTP API
    python3                   # test_events.sh reads the event stream over a raw socket
)
# js-libp2p interop peers need Node.js >= 20 with npm; any install of it will do (Debian's,
# NodeSource's, nvm's), so it is checked as a command, and Debian's packages are the fallback.
NODE_PACKAGES=(nodejs npm)
TERMUX_PACKAGES=(cmake make clang lld pkg-config cjson libuv libsodium protobuf-c libwebsockets
    libsqlite nodejs jq curl python)
TERMUX_OPTIONAL=(wabt) # installed when the repository has it; without it spec tests are off

say() { echo "deps: $*"; }
die() {
    echo "deps: $*" >&2
    exit 1
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing_of() {
    local p out=()
    for p in "$@"; do installed "$p" || out+=("$p"); done
    echo "${out[@]:-}"
}

# Runs a command as root: directly, or through sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to install packages ($*): run as root or install sudo"
    fi
}

# apt-get waiting for a lock held by another apt (up to 10 minutes), quietly.
apt_quiet() {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=600 "$@" \
        >/tmp/swarm-deps.log 2>&1 || {
        tail -n 20 /tmp/swarm-deps.log >&2
        die "apt-get $* failed (full log: /tmp/swarm-deps.log)"
    }
}

debian() {
    local missing still
    read -ra missing <<<"$(missing_of "${DEBIAN_PACKAGES[@]}")"
    if [ ${#missing[@]} -eq 0 ]; then
        say "all present (${#DEBIAN_PACKAGES[@]} packages)"
        return
    fi
    apt_quiet update
    apt_quiet install -y --no-install-recommends "${missing[@]}"
    read -ra still <<<"$(missing_of "${missing[@]}")"
    [ ${#still[@]} -eq 0 ] || die "still missing after install: ${still[*]}"
    say "installed ${missing[*]}"
}

node_ok() { command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; }

debian_node() {
    node_ok && return
    apt_quiet update
    apt_quiet install -y --no-install-recommends "${NODE_PACKAGES[@]}"
    node_ok || die "node and npm still missing after installing ${NODE_PACKAGES[*]}"
    say "installed ${NODE_PACKAGES[*]}"
}

termux() {
    local missing optional p
    read -ra missing <<<"$(missing_of "${TERMUX_PACKAGES[@]}")"
    read -ra optional <<<"$(missing_of "${TERMUX_OPTIONAL[@]}")"
    if [ ${#missing[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ]; then
        say "all present (termux)"
        return
    fi
    local done_list=()
    if [ ${#missing[@]} -gt 0 ]; then
        pkg install -y "${missing[@]}" >"${TMPDIR:-$PREFIX/tmp}/swarm-deps.log" 2>&1 ||
            die "pkg install ${missing[*]} failed (log: ${TMPDIR:-$PREFIX/tmp}/swarm-deps.log)"
        done_list+=("${missing[@]}")
    fi
    for p in "${optional[@]}"; do
        if pkg install -y "$p" >/dev/null 2>&1; then
            done_list+=("$p")
        else
            say "note: $p is not available here; configure with -DSWARM_SPEC_TESTS=OFF"
        fi
    done
    say "installed ${done_list[*]:-nothing}"
}

# Anything else: no package manager we know; check the tools and say what is missing.
other() {
    local t lacking=()
    for t in cmake make cc clang wast2json pkg-config; do
        command -v "$t" >/dev/null 2>&1 || lacking+=("$t")
    done
    [ ${#lacking[@]} -eq 0 ] ||
        die "unknown system and missing ${lacking[*]}: install them (see docs/DEPENDENCIES.md)"
    say "unknown system, tools present"
}

# The js-libp2p peers of the interop tests: `npm ci` in tests/interop (pinned by its
# package-lock.json) when node_modules is missing or older than the lock file. A failure (no
# network, say) is only a warning: the interop tests then skip, saying node_modules is missing.
interop_npm() {
    local dir lock stamp log
    dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/interop"
    lock=$dir/package-lock.json
    stamp=$dir/node_modules/.package-lock.json # npm rewrites it on every install
    [ -f "$lock" ] || return 0
    node_ok || {
        say "warning: node/npm not found: the js-libp2p interop tests will be skipped"
        return 0
    }
    if [ -f "$stamp" ] && [ ! "$lock" -nt "$stamp" ] && [ ! "$dir/package.json" -nt "$stamp" ]; then
        return 0
    fi
    log="${TMPDIR:-/tmp}/swarm-deps-npm.log"
    if (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
        touch "$stamp"
        say "installed the js-libp2p interop packages (npm ci in tests/interop)"
    else
        tail -n 20 "$log" >&2
        say "warning: npm ci in tests/interop failed (full log: $log);" \
            "the js-libp2p interop tests will be skipped"
    fi
}

if [ -n "${TERMUX_VERSION:-}" ] || [[ "${PREFIX:-}" == */com.termux/* ]]; then
    termux
elif command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then
    debian
    debian_node
else
    other
fi
interop_npm
