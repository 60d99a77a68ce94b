#!/bin/sh
# Installs what the build and the tests need (Debian 12, as root), then
# configures and builds into $MSS_BUILDDIR (default: ./build).
# Extra arguments go to configure.
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${MSS_BUILDDIR:-$SRC/build}

PACKAGES="build-essential autoconf automake libtool pkg-config
	libpam0g-dev libsodium-dev libesmtp-dev liblmdb-dev libssl-dev
	libidn2-dev libargon2-dev
	libcmocka-dev libpam-wrapper libpamtest0-dev pamtester
	python3-aiosmtpd python3-pytest python3-paramiko python3-pexpect
	python3-argon2 python3-prometheus-client fail2ban
	openssh-server openssh-client sudo mandoc lmdb-utils openssl util-linux
	systemd python3-seccomp
	faketime gettext libpam-google-authenticator
	slapd ldap-utils libldap-dev python3-ldap3"

missing=
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: missing packages:$missing (run as root)" >&2
		exit 1
	fi
	echo "setup: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	# slapd without its debconf questions and without a directory of
	# its own: the fleet tests start their own servers.
	echo "slapd slapd/no_configuration boolean true" |
	    debconf-set-selections
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
fi

cd "$SRC"
if [ ! -x configure ] || [ configure.ac -nt configure ] ||
    [ Makefile.am -nt Makefile.in ]; then
	autoreconf -fi
fi
mkdir -p "$BUILD"
cd "$BUILD"
if [ ! -f Makefile ] || [ "$#" -gt 0 ]; then
	"$SRC/configure" --enable-werror "$@"
fi
make -j"$(nproc)"
make -j"$(nproc)" tests/pam/pam_driver tests/fleet/dir_driver \
    tests/fleet/store_driver
