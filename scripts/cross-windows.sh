#!/usr/bin/env bash
# Cross-target CI step for Windows (issue 11): builds the SDK for x86_64-pc-windows-gnu on this
# Debian 12 machine and runs the platform crate's tests under Wine on a private Xvfb screen.
#
#   - toolchain: Debian's rustc-web/cargo-web 1.96 in /usr/bin with -Zbuild-std (std from
#     rust-web-src); rustup's 1.95 stays the native toolchain and is not touched
#   - builds (release): glance-platform, glance-visitor, glance-ffi (glance.dll,
#     libglance.dll.a, libglance.a) and glance-cli (glance-share.exe)
#   - cargo clippy -D warnings for the target on glance-platform (the crate that holds the
#     Windows code)
#   - glance-platform's and glance-ffi's tests under Wine 8 (--test-threads=1), with an xterm
#     on the Xvfb screen so GDI capture has something to see; SendInput among them
#     (crates/glance-platform/tests/windows_input.rs), then once more clicking at a pixel the
#     script names, and the X server's own pointer (xdotool) must be on that pixel
#   - tests/c/windows_share.c, built with MinGW against glance.dll, shares the Xvfb screen
#     under Wine through a real glance-server (the native Linux build; skipped without one)
#     to the agent viewer in headless Chromium (tests/browser/wine_share.test.mjs): the
#     display list must be what Wine sees, ShowDisplay must work, and the canvas must equal
#     the X root pixel for pixel, on a still screen and after an xterm has scrolled
#
# Everything lands in ~/.cache/glance-xci (GLANCE_XCI_DIR; shared with cross-mac.sh and kept
# between runs and clones: std, deps and the Wine prefix are reused; about 8 min cold).
# See docs in README.md ("Windows") and ../shared/notes/cross-targets.md for the measurements
# behind this recipe.
#
# usage: scripts/cross-windows.sh        env: XCI_SKIP_TESTS=1, XCI_SKIP_CLIPPY=1, XCI_VERBOSE=1,
#                                             XCI_MONITORS=2 (two RandR monitors on the Xvfb screen)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
t0=$SECONDS
tstep=$SECONDS
declare -a TIMES=()
step() {
    local now=$SECONDS
    [ -n "${CURRENT:-}" ] && TIMES+=("$(printf '%4ds  %s' $((now - tstep)) "$CURRENT")")
    CURRENT="$*"
    tstep=$now
    echo "=== [$((now - t0))s] $*"
}
finish_times() {
    step ""
    echo "=== cross-windows: step times"
    printf '  %s\n' "${TIMES[@]}"
    echo "=== cross-windows: total $((SECONDS - t0))s"
}

# ---------------------------------------------------------------- packages
pkgs=(rustc-web cargo-web rust-web-src rust-web-clippy gcc-mingw-w64-x86-64 wine64 wine xvfb xterm
    xdotool x11-apps x11-xserver-utils)
if ! dpkg -s "${pkgs[@]}" >/dev/null 2>&1; then
    step "apt-get install ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    SUDO=
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

# ---------------------------------------------------------------- toolchain
# Debian's 1.96 in /usr/bin; rustup's ~/.cargo/bin usually comes first in PATH and its 1.95
# cannot compile Debian's 1.96 std sources, so pin everything (cargo-clippy too).
export PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
unset RUSTC_WRAPPER RUSTUP_TOOLCHAIN CARGO_BUILD_TARGET 2>/dev/null || true
export RUSTC_BOOTSTRAP=1 # lets the stable 1.96 toolchain take -Zbuild-std
CARGO=/usr/bin/cargo
TARGET=x86_64-pc-windows-gnu
export CARGO_TARGET_DIR="${XCI_TARGET_DIR:-${GLANCE_XCI_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/glance-xci}}"
mkdir -p "$CARGO_TARGET_DIR"
X=(-Zbuild-std=std,panic_abort --target "$TARGET" --release)
[ "${XCI_VERBOSE:-0}" = 1 ] || X+=(--quiet)
echo "$("$CARGO" -V) / $("$RUSTC" -V)"

export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=/usr/lib/wine/wine64
# cc-rs (ring's C and assembly) finds x86_64-w64-mingw32-gcc by itself; say it anyway
export CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar

# ---------------------------------------------------------------- build
step "cargo build --release --target $TARGET: glance-platform glance-visitor glance-ffi glance-cli"
"$CARGO" build "${X[@]}" -p glance-platform -p glance-visitor -p glance-ffi -p glance-cli
OUT="$CARGO_TARGET_DIR/$TARGET/release"
for f in glance.dll libglance.dll.a libglance.a glance-share.exe; do
    [ -f "$OUT/$f" ] || { echo "cross-windows: $OUT/$f was not built" >&2; exit 1; }
done
ls -l "$OUT"/glance.dll "$OUT"/libglance.dll.a "$OUT"/libglance.a "$OUT"/glance-share.exe

if [ "${XCI_SKIP_CLIPPY:-0}" != 1 ]; then
    # glance-platform is the only crate with Windows code (clippy on glance-ffi would re-check
    # all of glance-visitor's dependencies for several minutes and find nothing Windows-only)
    step "cargo clippy --target $TARGET -D warnings: glance-platform"
    "$CARGO" clippy "${X[@]}" -p glance-platform --all-targets -- -D warnings
fi

if [ "${XCI_SKIP_TESTS:-0}" = 1 ]; then
    finish_times
    exit 0
fi

# ---------------------------------------------------------------- Wine prefix
export WINEPREFIX="$CARGO_TARGET_DIR/wineprefix"
export WINEDEBUG="${WINEDEBUG:--all}" WINEDLLOVERRIDES="mscoree,mshtml=" # no Mono/Gecko prompts
xvfb_pid=
xterm_pid=
cleanup() {
    /usr/lib/wine/wineserver -k 2>/dev/null || true # this prefix's wineserver only
    [ -n "$xterm_pid" ] && kill "$xterm_pid" 2>/dev/null || true
    [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null || true
    return 0
}
trap cleanup EXIT

if [ ! -f "$WINEPREFIX/system.reg" ]; then
    step "wineboot --init ($WINEPREFIX)"
    DISPLAY='' /usr/lib/wine/wine64 wineboot --init >/dev/null 2>&1 || true
    /usr/lib/wine/wineserver -w
fi
# Rust std >= 1.78 on *-pc-windows-gnu imports ProcessPrng from bcryptprimitives.dll, which
# Wine 8.0 lacks (every exe dies with c0000135). A test-harness shim only: never shipped.
dll="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
if [ ! -f "$dll" ]; then
    step "bcryptprimitives.dll stub"
    cat >"$CARGO_TARGET_DIR/bcryptprimitives.c" <<'EOF'
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID, ULONG);   /* advapi32!RtlGenRandom */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len) {
        ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, n)) return FALSE;
        data += n; len -= n;
    }
    return TRUE;
}
EOF
    x86_64-w64-mingw32-gcc -O2 -shared -o "$dll" "$CARGO_TARGET_DIR/bcryptprimitives.c" -ladvapi32
fi

# ---------------------------------------------------------------- Xvfb + xterm
# start_x ARGS...: a private Xvfb with these screen arguments and the navy xterm on it.
start_x() {
    n=90
    while [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ]; do n=$((n + 1)); done
    Xvfb ":$n" "$@" -nolisten tcp >/dev/null 2>&1 &
    xvfb_pid=$!
    for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X$n" ] && break; sleep 0.1; done
    [ -e "/tmp/.X11-unix/X$n" ] || { echo "cross-windows: Xvfb :$n did not start" >&2; exit 1; }
    export DISPLAY=":$n"
    xterm -geometry 80x24+100+100 -bg navy -fg yellow -e sleep 3600 &
    xterm_pid=$!
    sleep 1
}
stop_x() {
    /usr/lib/wine/wineserver -k 2>/dev/null || true
    /usr/lib/wine/wineserver -w 2>/dev/null || true
    kill "$xterm_pid" "$xvfb_pid" 2>/dev/null || true
    wait "$xterm_pid" "$xvfb_pid" 2>/dev/null || true
    xterm_pid= xvfb_pid=
}
# The two-monitor pass below sets Wine's UseXRandR=N for this prefix; a run that died in it
# must not leave it set (Wine would then misreport a plain Xvfb screen).
if grep -q '"UseXRandR"' "$WINEPREFIX/user.reg" 2>/dev/null; then
    DISPLAY='' /usr/lib/wine/wine64 reg delete 'HKCU\Software\Wine\X11 Driver' /v UseXRandR /f >/dev/null 2>&1 || true
fi
step "Xvfb (free display) + xterm"
export XCI_SCREEN_W=1280 XCI_SCREEN_H=800
start_x -screen 0 "${XCI_SCREEN_W}x${XCI_SCREEN_H}x24"
# What Wine must report (tests/browser/wine_share.test.mjs): NAME@X,Y,WxH, primary first.
XCI_MONITOR_LIST='\\.\DISPLAY1@0,0,'"${XCI_SCREEN_W}x${XCI_SCREEN_H}"

# ---------------------------------------------------------------- tests under Wine
# GLANCE_XCI_SCREEN tells the Windows tests the Xvfb size (the monitor Wine must report).
export GLANCE_XCI_SCREEN="${XCI_SCREEN_W}x${XCI_SCREEN_H}"
step "cargo test --release --target $TARGET under Wine: glance-platform glance-ffi"
"$CARGO" test "${X[@]}" -p glance-platform -p glance-ffi -- --test-threads=1

# SendInput moves the real X pointer: a click at a pixel the script names (the test checks
# that its window got the click there), then the X server is asked where its pointer is.
step "SendInput under Wine: the X pointer ends on the injected pixel (xdotool)"
for at in 777x333 1234x56; do
    out=$(GLANCE_XCI_POINTER_END=$at "$CARGO" test "${X[@]}" -p glance-platform \
        --test windows_input pointer_ends_at_the_requested_pixel -- --exact --nocapture 2>&1) ||
        { echo "$out" >&2; echo "cross-windows: the click at $at did not arrive" >&2; exit 1; }
    grep -q "^POINTER_END ${at/x/ }$" <<<"$out" ||
        { echo "$out" >&2; echo "cross-windows: the click test at $at did not run" >&2; exit 1; }
    loc=$(xdotool getmouselocation --shell | tr '\n' ' ')
    case "$loc" in
    "X=${at%x*} Y=${at#*x} "*) echo "X pointer at $at after SendInput ($loc)" ;;
    *)
        echo "cross-windows: SendInput to $at, but the X pointer is at: $loc" >&2
        exit 1
        ;;
    esac
done

# ---------------------------------------------------------------- a C visitor under Wine
# tests/c/windows_share.c built with MinGW against glance.dll (import library libglance.dll.a)
# shares the Xvfb screen through a real (Linux) glance-server to the agent viewer in headless
# Chromium (tests/browser/wine_share.test.mjs; node, chromium and the node modules come from
# scripts/setup.sh). The server is the native build: $GLANCE_SERVER, else
# target/debug/glance-server (scripts/test.sh builds it); skipped when neither exists.
server="${GLANCE_SERVER:-$ROOT/target/debug/glance-server}"
if [ -x "$server" ]; then
    x86_64-w64-mingw32-gcc -std=c11 -Wall -Wextra -Werror -pedantic -Iinclude \
        tests/c/windows_share.c -o "$CARGO_TARGET_DIR/windows_share.exe" -L"$OUT" -lglance
    cp "$OUT/glance.dll" "$CARGO_TARGET_DIR/"
    # node's environment: the native target dir (helpers.mjs finds glance-server there),
    # the exe, and GLANCE_WINE_REQUIRED so that a missing piece fails instead of skipping
    share_env=(CARGO_TARGET_DIR="$(dirname "$(dirname "$server")")" GLANCE_WINE_REQUIRED=1
        GLANCE_WINE_SHARE_EXE="$CARGO_TARGET_DIR/windows_share.exe" GLANCE_WINE=/usr/lib/wine/wine64)
    if command -v node >/dev/null && [ -d tests/browser/node_modules/playwright-core ]; then
        step "C program (MinGW, glance.dll) under Wine -> glance-server -> viewer in Chromium: pixel-exact, displays, ShowDisplay"
        (cd tests/browser && env "${share_env[@]}" GLANCE_XCI_MONITORS="$XCI_MONITOR_LIST" \
            timeout 600 node --test --test-concurrency=1 wine_share.test.mjs)
        if [ "${XCI_SKIP_TWO_MONITORS:-0}" != 1 ]; then
            # Wine 8 reports one monitor per RandR output, and Xvfb has one (xrandr
            # --setmonitor adds no monitor there). With UseXRandR=N Wine reports Xinerama
            # heads instead: Xvfb +xinerama with a second screen gives a second monitor
            # (Xvfb puts every screen at 0,0, so it overlaps the first one's top left).
            step "two monitors (Xvfb +xinerama, Wine UseXRandR=N): displays, ShowDisplay to the second"
            stop_x
            start_x +xinerama -screen 0 "${XCI_SCREEN_W}x${XCI_SCREEN_H}x24" -screen 1 640x480x24
            /usr/lib/wine/wine64 reg add 'HKCU\Software\Wine\X11 Driver' /v UseXRandR /t REG_SZ \
                /d N /f >/dev/null 2>&1
            /usr/lib/wine/wineserver -k 2>/dev/null || true
            /usr/lib/wine/wineserver -w 2>/dev/null || true
            rc=0
            (cd tests/browser && env "${share_env[@]}" \
                GLANCE_XCI_MONITORS="$XCI_MONITOR_LIST"';\\.\DISPLAY2@0,0,640x480' \
                timeout 600 node --test --test-concurrency=1 --test-name-pattern='displays Wine reports' \
                wine_share.test.mjs) || rc=$?
            /usr/lib/wine/wine64 reg delete 'HKCU\Software\Wine\X11 Driver' /v UseXRandR /f >/dev/null 2>&1 || true
            [ "$rc" = 0 ] || exit "$rc"
        fi
    else
        step "C program (MinGW, glance.dll) shares the screen under Wine through glance-server"
        echo "=== (no node/playwright-core: scripts/setup.sh installs them; sharing without a viewer)"
        sdir=$(mktemp -d)
        "$server" --listen 127.0.0.1:0 --state-dir "$sdir" >"$sdir/out" 2>"$sdir/err" &
        server_pid=$!
        for _ in $(seq 100); do [ -s "$sdir/out" ] && break; sleep 0.1; done
        ready=$(head -n1 "$sdir/out")
        json() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" <<<"$ready"; }
        rc=0
        timeout 120 /usr/lib/wine/wine64 "$CARGO_TARGET_DIR/windows_share.exe" "$(json group_id)" \
            "$(json session_url)" "Z:$(json ca_cert)" 3 >"$sdir/share.log" 2>&1 || rc=$?
        kill "$server_pid" 2>/dev/null || true
        cat "$sdir/share.log"
        if [ "$rc" != 0 ] || ! grep -q '^SHARE OK' "$sdir/share.log"; then
            echo "cross-windows: the C visitor under Wine failed (rc $rc); server log:" >&2
            tail -20 "$sdir/err" >&2
            exit 1
        fi
        rm -rf "$sdir"
    fi
else
    echo "=== (skipped the C visitor under Wine: no glance-server at $server)"
fi

cleanup
trap - EXIT
finish_times
