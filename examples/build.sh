#!/usr/bin/env bash
# Builds every examples/*.c into examples/*.wasm with clang's wasm32 target:
# freestanding (no libc), no entry point, only `execute` exported.
#
#   examples/build.sh [-o OUTDIR] [FILE.c...]
#
# OUTDIR defaults to examples/ itself (the .wasm files are committed beside
# their sources); tests build into a temporary dir to compare. CLANG and
# WASM_LD override the tools; otherwise clang and wasm-ld from PATH are used,
# else the newest -NN suffixed ones (as Debian installs them, e.g. wasm-ld-14).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
outdir=$here
files=()
while [ $# -gt 0 ]; do
    case $1 in
    -o)
        outdir=${2:?-o needs a directory}
        shift 2
        ;;
    -h | --help)
        sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *)
        files+=("$1")
        shift
        ;;
    esac
done
if [ ${#files[@]} -eq 0 ]; then
    files=("$here"/*.c)
fi

# Prints the first of the given tool names found on PATH, trying plain names
# first and then versioned ones (newest first).
find_tool() {
    local name
    for name in "$@"; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return 0
        fi
    done
    for name in "$@"; do
        local v
        for v in 20 19 18 17 16 15 14 13; do
            if command -v "$name-$v" >/dev/null 2>&1; then
                command -v "$name-$v"
                return 0
            fi
        done
        for v in /usr/lib/llvm-*/bin/"$name"; do
            if [ -x "$v" ]; then
                echo "$v"
                return 0
            fi
        done
    done
    return 1
}

clang=${CLANG:-$(find_tool clang || true)}
wasm_ld=${WASM_LD:-$(find_tool wasm-ld || true)}
if [ -z "$clang" ]; then
    echo "build.sh: clang not found (Debian: apt-get install clang lld)" >&2
    exit 1
fi
if [ -z "$wasm_ld" ]; then
    echo "build.sh: wasm-ld not found (Debian: apt-get install lld)" >&2
    exit 1
fi

# clang runs the linker named wasm-ld; Debian may only have wasm-ld-14, so put
# a wasm-ld that points to the one found first on PATH.
bindir=$(mktemp -d)
trap 'rm -rf "$bindir"' EXIT
ln -s "$wasm_ld" "$bindir/wasm-ld"
export PATH="$bindir:$PATH"

mkdir -p "$outdir"
for src in "${files[@]}"; do
    name=$(basename "$src" .c)
    "$clang" --target=wasm32 -O2 -nostdlib -Wall -Wextra -Werror \
        -Wl,--no-entry -Wl,--export=execute -Wl,--strip-all \
        -o "$outdir/$name.wasm" "$src"
    chmod 644 "$outdir/$name.wasm" # wasm-ld marks its output executable
    echo "built $outdir/$name.wasm ($(wc -c <"$outdir/$name.wasm") bytes)"
done
