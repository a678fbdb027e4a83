# lib.sh - sourced by integration scripts: counts checks and prints each one.
#   check DESCRIPTION COMMAND...   runs COMMAND; "ok: ..." or "FAIL: ..."
#   pass / fail DESCRIPTION        count a check decided by the caller
#   summary                        prints the counts; returns non-zero if anything failed
# (Not a test itself: CTest registers only test_*.sh.)
passed=0
failed=0

pass() {
    passed=$((passed + 1))
    echo "ok: $*"
}

fail() {
    failed=$((failed + 1))
    echo "FAIL: $*"
}

check() {
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

summary() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
