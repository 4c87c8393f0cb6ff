#!/usr/bin/env bash
# The stack never calls an interposed symbol (issue 11). Inside
# libxio_preload.so a libc name the library exports (socket, close, poll,
# syscall, ...) binds to the shim's own wrapper, so stack/ must reach those
# calls through its table (stack/sys.h), filled with the real ones. Proved
# three ways:
#   1. no object of the stack's archive leaves such a name undefined, except
#      sys_libc.c.o (xio_sys_use_libc: the table pointed at libc, for
#      programs that are not preloaded);
#   2. ... and that object is not linked into libxio_preload.so;
#   3. the dynamic loader, asked with LD_DEBUG=bindings, binds no `syscall'
#      of libxio_preload.so to libxio_preload.so (the defect found: logging
#      and demotion called syscall() meaning the raw call), while the
#      library logs (XIO_LOG=1, a malformed XIO_SPIN_US) as it should.
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
need_prog nm
[[ -f $PRELOAD ]] || fail "libxio_preload.so not found"
STACK_LIB=${XIO_STACK_LIB:-$BUILD_DIR/libxio_stack.a}
[[ -f $STACK_LIB ]] || fail "$STACK_LIB not found (XIO_STACK_LIB)"
WORK=$(mktemp -d /tmp/xit.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fails=0

# What the library exports (its dynamic symbol table), less its own API.
nm -D --defined-only "$PRELOAD" | awk '{ sub(/@.*/, "", $3); print $3 }' |
	grep -v '^xio_' | sort -u >"$WORK/exported"
(($(wc -l <"$WORK/exported") >= 20)) || fail "only $(wc -l <"$WORK/exported") exported names in $PRELOAD?"
grep -qx syscall "$WORK/exported" || fail "the library does not export syscall: the check below means nothing"

# 1. undefined names per archive member
nm -A -u "$STACK_LIB" | awk '{ n = $NF; sub(/@.*/, "", n); f = $1; sub(/:$/, "", f); sub(/.*:/, "", f); print f, n }' |
	sort -u >"$WORK/undefined"
(($(wc -l <"$WORK/undefined") > 50)) || fail "nm found almost nothing undefined in $STACK_LIB"
members=$(awk '{ print $1 }' "$WORK/undefined" | sort -u | wc -l)
while read -r obj name; do
	grep -qxF "$name" "$WORK/exported" || continue
	if [[ $obj == sys_libc.c.o ]]; then
		continue
	fi
	echo "FAIL [$TEST_NAME]: stack/${obj%.o} calls $name by name: inside the preload that is the shim's wrapper (use xio_sys.$name, stack/sys.h)" >&2
	fails=$((fails + 1))
done <"$WORK/undefined"
log "1. $members objects of $(basename "$STACK_LIB"): interposed names only in sys_libc.c.o"

# 2. the one allowed object stays out of the preload
nm "$PRELOAD" >"$WORK/preload.syms" || fail "nm $PRELOAD failed"
grep -qw xio_sys "$WORK/preload.syms" || fail "no symbol table in $PRELOAD (stripped?): cannot check 2"
if grep -qw xio_sys_use_libc "$WORK/preload.syms"; then
	echo "FAIL [$TEST_NAME]: libxio_preload.so contains xio_sys_use_libc (sys_libc.c.o, whose libc names bind to the shim there)" >&2
	fails=$((fails + 1))
fi
log "2. sys_libc.c.o is not linked into the preload"

# 3. what the loader binds (-z now: every binding at load time)
env LD_DEBUG=bindings LD_DEBUG_OUTPUT="$WORK/ld" LD_PRELOAD="$PRELOAD" XIO_LOG=1 XIO_SPIN_US=bogus \
	XIO_DOMAIN=fx_stack_calls XIO_RUNDIR="$WORK/none" \
	sh -c 'exec 3<>/dev/null; echo x >&3' 2>"$WORK/log.err" || fail "a preloaded sh failed: $(cat "$WORK/log.err")"
cat "$WORK"/ld.* >"$WORK/bindings"
grep -q "libxio_preload.so" "$WORK/bindings" || fail "LD_DEBUG=bindings showed no binding of the library"
self=$(grep -E "binding file [^ ]*libxio_preload\.so.* to [^ ]*libxio_preload\.so.*symbol \`syscall'" "$WORK/bindings" || true)
if [[ -n $self ]]; then
	echo "FAIL [$TEST_NAME]: the library calls its own syscall() wrapper:" >&2
	echo "$self" | head -n 3 >&2
	fails=$((fails + 1))
fi
grep -q "XIO_SPIN_US='bogus'" "$WORK/log.err" ||
	fail "the library did not log the malformed XIO_SPIN_US: '$(cat "$WORK/log.err")'"
log "3. no self-binding of syscall; the log line: $(head -n 1 "$WORK/log.err")"

((fails == 0)) || fail "$fails check(s) failed"
log "PASS"
