"""systemd as PID 1 of a throwaway copy of this machine, for the tests
that need the real service manager (the unit's User=, its sandbox,
Type=notify, the journal) on a machine whose PID 1 is something else.

The box has its own mount, PID, network, UTS, IPC and cgroup namespaces.
Its root is an overlay: this machine's / below, a tmpfs above, so that
whatever systemd and the tests write there (tmpfiles' clean-up of /tmp,
the journal, /run, /var/lib) is gone with the box. What could change the
machine itself is closed:
- /sys and /proc/sys are read-only, so no udev and no sysctl.d;
- no CAP_SYS_MODULE, CAP_SYS_TIME or CAP_SYS_BOOT;
- a /dev of its own (a few device nodes of this one), so that the box's
  journald takes the box's /dev/log, not this machine's;
- its own network namespace, where systemd brings up lo;
- a cgroup of its own in every hierarchy, removed afterwards.

Directories of this machine can be shown at a path of the box (binds):
read-only, unless "rw" follows them.
"""

import os
import subprocess
import tempfile
import time
from pathlib import Path

# Runs in the new namespaces: $1 the box's directory, then triples of
# (host directory, path in the box, ro or rw).
_BOOT = r"""
set -e
BOX=$1; shift
mount -t tmpfs -o mode=0755 tmpfs "$BOX"
mkdir "$BOX/upper" "$BOX/work" "$BOX/root"
mount -t overlay overlay \
    -o "lowerdir=/,upperdir=$BOX/upper,workdir=$BOX/work" "$BOX/root"
R=$BOX/root
mount -t tmpfs -o mode=0755,nosuid tmpfs "$R/dev"
for n in null zero full random urandom tty; do
	touch "$R/dev/$n"
	mount --bind "/dev/$n" "$R/dev/$n"
done
mkdir "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/dev/shm"
mount --bind /sys "$R/sys"
mount -o remount,bind,ro "$R/sys"
mount -t proc proc "$R/proc"
mount --bind "$R/proc/sys" "$R/proc/sys"
mount -o remount,bind,ro "$R/proc/sys"
while [ $# -gt 2 ]; do
	mkdir -p "$R$2"
	mount --bind "$1" "$R$2"
	if [ "$3" != rw ]; then
		mount -o remount,bind,ro "$R$2"
	fi
	shift 3
done
exec setpriv --bounding-set=-sys_module,-sys_time,-sys_boot \
    chroot "$R" /usr/bin/env -i container=mss-test \
    /lib/systemd/systemd --system --unit=basic.target
"""


def _cgroup_mounts():
    """{controllers or "" for cgroup2: mount point}, from mountinfo."""
    mounts = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fstype, _, opts = right.split(" ", 2)
        point = left.split(" ")[4]
        if fstype == "cgroup2":
            mounts.setdefault("", point)
        elif fstype == "cgroup":
            mounts.setdefault(frozenset(opts.split(",")), point)
    return mounts


def _own_cgroups(name):
    """A cgroup named name under this process's own, in every hierarchy it
    belongs to; returns their directories."""
    mounts = _cgroup_mounts()
    made = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        if ctrls == "":
            point = mounts.get("")
        else:
            want = set(ctrls.split(","))
            point = next((p for k, p in mounts.items()
                          if k != "" and want <= k), None)
        if point is None:
            continue
        d = Path(point + path) / name
        try:
            d.mkdir()
        except OSError:
            continue    # a hierarchy this process may not write
        made.append(d)
        if "cpuset" in ctrls.split(","):
            for f in ("cpuset.cpus", "cpuset.mems"):
                (d / f).write_text((d.parent / f).read_text())
    return made


def _remove_cgroups(dirs):
    for top in dirs:
        if not top.is_dir():
            continue
        for d, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
            try:
                os.rmdir(d)
            except OSError:
                pass


class SystemdBox:
    def __init__(self, binds=()):
        # (host directory, path in the box[, "rw"])
        self.binds = list(binds)
        self.dir = Path(tempfile.mkdtemp(prefix="mss-box-"))
        self.log = self.dir.with_suffix(".log")
        self.proc = None
        self.pid1 = None            # systemd's PID, seen from here
        self.cgroups = []

    def start(self, timeout=90):
        self.cgroups = _own_cgroups(self.dir.name)
        procs = [d / "cgroup.procs" for d in self.cgroups]

        def enter():
            for p in procs:
                p.write_text(str(os.getpid()))

        args = []
        for bind in self.binds:
            args += [str(bind[0]), str(bind[1]),
                     bind[2] if len(bind) > 2 else "ro"]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                ["unshare", "--mount", "--pid", "--net", "--uts", "--ipc",
                 "--cgroup", "--fork", "--propagation", "private",
                 "sh", "-ec", _BOOT, "sh", str(self.dir)] + args,
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                preexec_fn=enter, start_new_session=True)
        deadline = time.monotonic() + timeout
        children = Path("/proc/%d/task/%d/children" % (self.proc.pid,
                                                       self.proc.pid))
        state = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self.pid1 is None:
                kids = children.read_text().split()
                if kids and Path("/proc/%s/exe" % kids[0]).resolve() \
                        .name == "systemd":
                    self.pid1 = int(kids[0])
            if self.pid1 is not None:
                r = self.run(["systemctl", "is-system-running", "--wait"],
                             check=False, timeout=deadline - time.monotonic())
                state = r.stdout.strip()
                if state in ("running", "degraded"):
                    return state
            time.sleep(0.2)
        raise AssertionError("systemd did not boot in the box (%s):\n%s" % (
            state, self.log.read_text(errors="replace")[-3000:]))

    def enter(self):
        """The command prefix that runs a program inside the box."""
        return ["nsenter", "-t", str(self.pid1), "-m", "-u", "-i", "-n",
                "-p", "-C", "-r", "-w", "--"]

    def run(self, cmd, check=True, timeout=60, **kw):
        r = subprocess.run(self.enter() + [str(c) for c in cmd],
                           capture_output=True, text=True, timeout=timeout,
                           **kw)
        if check:
            assert r.returncode == 0, "in the box: %s: %d\n%s%s" % (
                " ".join(map(str, cmd)), r.returncode, r.stdout, r.stderr)
        return r

    def popen(self, cmd, **kw):
        return subprocess.Popen(self.enter() + [str(c) for c in cmd], **kw)

    def path(self, inside):
        """A path of the box, as this machine reaches it."""
        return Path("/proc/%d/root" % self.pid1) / str(inside).lstrip("/")

    def stop(self):
        """Kills every process of the box (they die with its PID 1), then
        its cgroups; its mounts go with its mount namespace."""
        if self.proc is not None and self.proc.poll() is None:
            if self.pid1 is not None:
                os.kill(self.pid1, 9)
            else:
                os.killpg(self.proc.pid, 9)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        _remove_cgroups(self.cgroups)
        try:
            os.rmdir(self.dir)
        except OSError:
            pass
        self.log.unlink(missing_ok=True)
