#!/bin/sh
# The whole test suite on this machine: installs the Debian packages it
# needs, builds into ./build and runs every test. Run as root.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
export MSS_BUILDDIR="${MSS_BUILDDIR:-$SRC/build}"
"$SRC/tests/setup.sh"
exec "$SRC/tests/run" --builddir "$MSS_BUILDDIR" "$@"
