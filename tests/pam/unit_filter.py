#!/usr/bin/python3
"""Runs a program under the system-call filter of mfad's systemd unit,
as systemd would: the filter of conf/systemd/mfad.service.in's
SystemCallFilter= lines (their groups expanded by systemd-analyze), no
new privileges, and any other system call kills the process (SIGSYS).

  unit_filter.py --list FILE             writes the allowed calls to FILE
  unit_filter.py FILE PROGRAM [ARG...]   runs PROGRAM under them

The harness (mss_harness.Mfad) runs every mfad of the suite this way, so
that a call the unit forbids fails the tests where a production host
would fail.
"""

import os
import subprocess
import sys
from pathlib import Path

UNIT = Path(__file__).resolve().parent.parent.parent / "conf" / \
    "systemd" / "mfad.service.in"


def _expand(name, seen):
    """The system calls of a name or @group (systemd-analyze's list)."""
    if not name.startswith("@"):
        return {name}
    if name in seen:
        return set()
    seen.add(name)
    out = subprocess.run(["systemd-analyze", "syscall-filter", name],
                         capture_output=True, text=True, check=True).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        line = line.strip()
        if line and not line.startswith("#"):
            calls |= _expand(line.split()[0], seen)
    return calls


def service_settings(unit=UNIT):
    """The [Service] settings of a unit file, in order, as (key, value)."""
    out, section = [], None
    for line in Path(unit).read_text().splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line:
            key, _, value = line.partition("=")
            out.append((key.strip(), value.strip()))
    return out


def allowed():
    """The calls the unit's SystemCallFilter= lines leave allowed: the
    first line is an allow list; a line starting with ~ takes away."""
    calls = None
    for key, value in service_settings():
        if key != "SystemCallFilter":
            continue
        deny = value.startswith("~")
        names = set()
        for name in value.lstrip("~").split():
            names |= _expand(name, set())
        if calls is None:
            calls = set() if deny else names
            if deny:
                raise SystemExit("%s: the filter is not an allow list" %
                                 UNIT)
        elif deny:
            calls -= names
        else:
            calls |= names
    if not calls:
        raise SystemExit("%s: no SystemCallFilter=" % UNIT)
    return sorted(calls)


def run(listfile, argv):
    import seccomp
    f = seccomp.SyscallFilter(defaction=seccomp.KILL_PROCESS)
    for name in Path(listfile).read_text().split():
        try:
            f.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError):
            pass        # not a call of this architecture
    f.load()            # sets no_new_privs first
    os.execv(argv[0], argv)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--list":
        Path(sys.argv[2]).write_text("\n".join(allowed()) + "\n")
    elif len(sys.argv) >= 3:
        run(sys.argv[1], sys.argv[2:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
