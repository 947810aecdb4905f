#!/usr/bin/env bash
# Installs libglance (shared and static), include/glance.h, the C++ wrapper glance.hpp, a
# pkg-config file and a CMake package under PREFIX (default /usr/local).
#   scripts/install.sh [PREFIX]
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(realpath -m "${1:-/usr/local}")
profile=${GLANCE_PROFILE:-release}   # GLANCE_PROFILE=debug installs the debug build (tests)
if [ "$profile" = release ]; then cargo build --release --quiet -p glance-ffi; else cargo build --quiet -p glance-ffi; fi
version=$(sed -n 's/^#define GLANCE_VERSION_STRING "\(.*\)"/\1/p' include/glance.h)
install -d "$prefix/lib/pkgconfig" "$prefix/include" "$prefix/lib/cmake/glance"
install -m 0755 target/$profile/libglance.so "$prefix/lib/"
install -m 0644 target/$profile/libglance.a "$prefix/lib/"
install -m 0644 include/glance.h bindings/cpp/glance.hpp "$prefix/include/"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" packaging/glance.pc.in >"$prefix/lib/pkgconfig/glance.pc"
install -m 0644 packaging/glanceConfig.cmake "$prefix/lib/cmake/glance/"
echo "installed libglance $version under $prefix"
