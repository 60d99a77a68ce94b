#!/bin/sh
# Builds every fuzzer (libFuzzer, ASan, UBSan) with clang into OUT
# (default: ./build-fuzz of the source tree): the project's libraries are
# configured and built there with the fuzzers' flags, then each fuzzer is
# linked against them. Usage: tests/fuzz/build.sh [OUT]
set -eu

SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$SRC/build-fuzz}
CC=${CC:-clang}
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
CFLAGS="-O1 -g -fno-omit-frame-pointer $SAN"

if ! command -v "$CC" >/dev/null; then
	echo "build.sh: $CC not found (apt-get install clang)" >&2
	exit 1
fi
cd "$SRC"
if [ ! -x configure ] || [ configure.ac -nt configure ] ||
    [ Makefile.am -nt Makefile.in ]; then
	autoreconf -fi
fi
mkdir -p "$OUT/obj"
OUT=$(cd "$OUT" && pwd)
cd "$OUT/obj"
if [ ! -f Makefile ]; then
	CC="$CC" "$SRC/configure" --disable-shared \
	    CFLAGS="$CFLAGS -fsanitize=fuzzer-no-link" >configure.log 2>&1 ||
	    { tail -n 30 configure.log; exit 1; }
fi
make -j"${JOBS:-2}" common/libmsscommon.la mfad/libmfad.la \
    pam_mss/pam_mss_fr.c >make.log 2>&1 || { tail -n 30 make.log; exit 1; }

INC="-I$OUT/obj -I$SRC -I$SRC/common -I$SRC/mfad -I$SRC/pam_mss -I$SRC/tests/fuzz
    -DFUZZ_TEMPLATES=\"$SRC/conf/templates\""
LIBS="$OUT/obj/mfad/.libs/libmfad.a $OUT/obj/common/.libs/libmsscommon.a
    $(pkg-config --libs libsodium lmdb libesmtp-1.0 libssl libcrypto pam ldap \
    libidn2 libargon2)
    -lpthread"
PAM_SRC="$SRC/pam_mss/pam_mss_opts.c $SRC/pam_mss/pam_mss_msg.c
    $SRC/pam_mss/pam_mss_rep.c $OUT/obj/pam_mss/pam_mss_fr.c"

fuzz() {	# name, extra sources
	name=$1
	shift
	echo "  FUZZ     $name"
	# shellcheck disable=SC2086
	$CC $CFLAGS -fsanitize=fuzzer $INC -o "$OUT/$name" \
	    "$SRC/tests/fuzz/$name.c" "$SRC/tests/fuzz/fuzz_common.c" "$@" \
	    $LIBS
}

for f in $(cd "$SRC/tests/fuzz" && ls fuzz_*.c); do
	name=${f%.c}
	case $name in
	fuzz_common) ;;
	fuzz_pam_*)
		# shellcheck disable=SC2086
		fuzz "$name" $PAM_SRC ;;
	*)	fuzz "$name" ;;
	esac
done
