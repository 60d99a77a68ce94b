#!/usr/bin/python3
"""Benchmark: mfad as a production host runs it, beside mfad as the other
benchmarks run it, in one run, alternately: the same build, the same
load (remembered-device logins from mfad_load at 1, 16 and 64 clients),
both stores in directories of this machine's file system.

- Under its unit: systemd as PID 1 (tests/deb/systemd_box.py) runs the
  build's mfad as a transient service with every [Service] setting of
  conf/systemd/mfad.service.in but the Exec lines: User=mfad, the
  sandbox and its system-call filter, LimitNOFILE; its log goes to the
  box's journald through /dev/log, as on a Debian host.
- As the benchmarks run it (bench_env): root, with the unit's
  system-call filter (mss_harness.unit_filter) and no other part of the
  sandbox, stderr to a file and syslog to this machine's /dev/log.

  tests/bench/bench_sandbox.py [--accounts N] [--seconds S] [--runs R]
                               [--quick]
"""

import copy
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import benchlib as b

sys.path.insert(0, os.path.join(b.SRC, "tests", "deb"))
import systemd_box  # noqa: E402
import unit_filter  # noqa: E402

UNIT = Path(b.SRC) / "conf" / "systemd" / "mfad.service.in"
# Not passed to systemd-run: it runs the command itself, once.
SKIP = ("ExecStartPre", "ExecStart", "ExecReload", "Restart", "RestartSec")


def unit_properties():
    """The [Service] settings of the shipped unit, in order."""
    return ["%s=%s" % kv for kv in unit_filter.service_settings(UNIT)
            if kv[0] not in SKIP]


class _Log:
    def __init__(self, box):
        self.box = box

    def log_text(self):
        return self.box.run(["journalctl", "-u", "mfad", "-o", "cat",
                             "--no-pager"], check=False).stdout


class BoxEnv:
    """The box's mfad, shaped as benchlib.load and drain_outbox use an env."""

    def __init__(self, box, conf):
        self.box, self.conf = box, conf
        self.sock = "/run/mfad/mfad.sock"
        self.owner = "mfad"         # the socket's, as User= makes it
        self.wrap = box.enter()
        self.mfad = _Log(box)

    def ctl_json(self, *args):
        r = self.box.run(["/mss-test/build/mfad/mfadctl", "-c", self.conf,
                          "-s", self.sock, "--json"] + list(args))
        return json.loads(r.stdout)

    def pid(self):
        """mfad's PID as this machine sees it."""
        inner = self.box.run(["systemctl", "show", "mfad", "-p",
                              "MainPID", "--value"]).stdout.strip()
        for p in Path("/proc").iterdir():
            if not p.name.isdigit():
                continue
            try:
                status = (p / "status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("NSpid:") and len(line.split()) == 3 \
                        and line.split()[2] == inner and \
                        "mfad" in (p / "comm").read_text():
                    return int(p.name)
        sys.exit("the box's mfad (PID %s there) is not found" % inner)


def start_box(env, state, port):
    """Boots the box and starts mfad there, configured as env's mfad but
    for its paths (the unit's directories) and its relay (the box's own
    sink, on the box's loopback)."""
    build = Path(b.builddir()).resolve()
    box = systemd_box.SystemdBox(binds=[
        (build, "/mss-test/build"), (b.BIN, "/mss-test/bin"),
        (Path(b.SRC) / "conf" / "templates", "/mss-test/templates"),
        (state, "/var/lib/mfad", "rw")])
    box.start()
    if box.run(["id", "mfad"], check=False).returncode != 0:
        box.run(["useradd", "--system", "--no-create-home", "--home-dir",
                 "/nonexistent", "--shell", "/usr/sbin/nologin", "mfad"])
    uid = int(box.run(["id", "-u", "mfad"]).stdout)
    gid = int(box.run(["id", "-g", "mfad"]).stdout)
    os.chown(state, uid, gid)
    os.chmod(state, 0o700)
    config = copy.deepcopy(env.config)
    config["mfad"].update(socket="/run/mfad/mfad.sock",
                          database="/var/lib/mfad/db", user="mfad")
    config["mail"].update(smtp="127.0.0.1:%d" % port,
                          templates="/mss-test/templates")
    box.run(["mkdir", "-p", "/etc/mfad"])
    conf = box.path("/etc/mfad/mfad.conf")
    b.h.write_ini(conf, config)
    os.chown(conf, 0, gid)
    os.chmod(conf, 0o640)
    cmd = ["systemd-run", "--unit=mfad", "--quiet"]
    for p in unit_properties():
        cmd += ["-p", p]
    box.run(cmd + ["/mss-test/build/mfad/mfad", "-f", "-c",
                   "/etc/mfad/mfad.conf"], timeout=120)
    benv = BoxEnv(box, "/etc/mfad/mfad.conf")
    deadline = time.monotonic() + 60
    while box.run(["/mss-test/build/mfad/mfadctl", "-c", benv.conf, "-s",
                   benv.sock, "status"], check=False).returncode != 0:
        if time.monotonic() > deadline:
            sys.exit("the box's mfad does not answer:\n%s" %
                     benv.mfad.log_text()[-3000:])
        time.sleep(0.2)
    return box, benv


def main():
    args = b.load_args()
    if os.geteuid() != 0 or shutil.which("systemd-run") is None:
        sys.exit("bench_sandbox.py needs root and systemd")
    tool = b.mfad_load()
    box_tool = "/mss-test/bin/mfad_load"
    smtp, env = b.bench_env()
    state = Path(tempfile.mkdtemp(prefix="mss-bench-state-"))
    box = None
    try:
        env.start()
        box, benv = start_box(env, state, smtp.port)
        sides = (("root", "as root, with the unit's system-call filter "
                  "only", tool, env, env.mfad.proc.pid),
                 ("unit", "under its unit (User=mfad, sandbox, journald)",
                  box_tool, benv, benv.pid()))
        for _, _, t, e, _ in sides:
            b.load(t, e, smtp.port, "add", clients=8, accounts=args.accounts)
            b.load(t, e, smtp.port, "remember", clients=16,
                   accounts=args.accounts)
            b.drain_outbox(t, e, smtp.port, args.accounts)
        for key, what, _, _, pid in sides:
            b.row("mfad %s: resident memory outside the LMDB map, idle" %
                  what, "KiB", [b.rss_outside_map_kib(pid)],
                  key="sandbox_%s_rss_out" % key)
        for c in (1, 16, 64):
            res = {k: ([], [], []) for k, _, _, _, _ in sides}
            for _ in range(args.runs):
                # Alternately, so that drifts of the machine hit both.
                for key, _, t, e, pid in sides:
                    r = b.load(t, e, smtp.port, "device", clients=c,
                               accounts=args.accounts,
                               seconds=args.seconds)
                    res[key][0].append(r["rate"])
                    res[key][1].append(r["p50_ms"])
                    res[key][2].append(r["p99_ms"])
            for key, what, _, _, _ in sides:
                rates, p50s, p99s = res[key]
                b.row("mfad %s: remembered-device logins, %d clients: "
                      "throughput" % (what, c), "logins/s", rates,
                      key="sandbox_%s_device%d_rate" % (key, c))
                b.row("mfad %s: remembered-device logins, %d clients: "
                      "latency p50 (p99 column)" % (what, c), "ms", p50s,
                      p99=max(p99s), key="sandbox_%s_device%d_lat" %
                      (key, c))
        errors = [line for line in benv.mfad.log_text().splitlines()
                  if "SIGSYS" in line or "status=31" in line]
        if errors:
            sys.exit("the box's mfad was killed by its filter: %s" % errors)
    finally:
        if box is not None:
            box.stop()
        env.close()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
