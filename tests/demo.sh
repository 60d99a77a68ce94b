#!/bin/sh
# A demo login on this machine: installs the Debian packages it needs,
# builds into ./build, then runs tests/demo.py (--auto for scripts).
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
export MSS_BUILDDIR="${MSS_BUILDDIR:-$SRC/build}"
"$SRC/tests/setup.sh" >/dev/null
exec /usr/bin/python3 "$SRC/tests/demo.py" "$@"
