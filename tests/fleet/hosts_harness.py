"""Two mfad hosts on the two providers of fleet_harness.

Host A and host B are each a whole scratch world of tests/pam/mss_harness.py
(MssEnv: its own socket, LMDB directory, PAM services and SMTP sink), with a
[directory] section that makes them one fleet: each lists its own provider
first and the other second, binds as its own service entry (cn=host-a,
cn=host-b), and both read the same fleet key. The people are the
directory's: add_people() creates their entries, as an organisation's own
tools would, before `mfadctl user add` attaches mfad's account to them.
"""

import os
import secrets
import signal
import sys
from pathlib import Path

import ldap3

import fleet_harness as fh

sys.path.insert(0, str(fh.SRC / "tests" / "pam"))
import mss_harness as mh  # noqa: E402

# Set by the tests' config; small, so that a lock takes a few failures.
LOCK_THRESHOLD = 4


def uri_list(nodes):
    """[directory] uri: the plain ldap:// URLs (STARTTLS), in order."""
    return " ".join(n.url.rstrip("/") for n in nodes)


class Hosts:
    """A fleet of two providers and two mfad hosts.

    hosts.a, hosts.b: MssEnv, with .name ("host-a") and .node (its own
    provider). config: mfad.conf keys merged into both hosts'."""

    def __init__(self, fleet, config=None):
        self.fleet = fleet
        self.dir = Path(fleet.tmp) / ("hosts-%s" % secrets.token_hex(4))
        self.dir.mkdir(mode=0o700)
        # The fleet key: 32 random bytes, the same file on every host.
        self.key_file = self.dir / "fleet.key"
        write_secret(self.key_file, secrets.token_bytes(32))
        self.hosts = []
        for name in ("host-a", "host-b"):
            smtp = mh.SmtpServer()
            smtp.start()
            conf = mh._merge({"lockout": {"threshold": LOCK_THRESHOLD}},
                             directory_config(fleet, name, self.dir,
                                              self.key_file))
            conf = mh._merge(conf, config)
            env = mh.MssEnv(smtp, conf)
            env.name = name
            env.node = own_node(fleet, name)
            self.hosts.append(env)
        self.a, self.b = self.hosts

    def start(self):
        for env in self.hosts:
            env.start()
        return self

    def close(self, keep=False):
        for env in self.hosts:
            if keep:
                print("---- %s: %s (kept) ----\n%s" % (
                    env.name, env.log, env.mfad.log_text()))
            try:
                env.close(keep=keep)
            finally:
                env.smtp.stop()

    # The directory ------------------------------------------------------

    def add_people(self, *uids, node=None, **extra):
        """Person entries (inetOrgPerson, no mfadAccount) added on a
        provider as the directory's administrator, and waited for on the
        other one. Returns their addresses."""
        node = node or self.fleet.a
        c = self.fleet.conn(node)
        try:
            for uid in uids:
                dn, oc, attrs = fh.person(uid, mfad=False, **extra)
                if not c.add(dn, oc, attrs):
                    raise AssertionError("add %s: %s" % (dn, c.result))
        finally:
            c.unbind()
        other = self.fleet.b if node is self.fleet.a else self.fleet.a
        for uid in uids:
            self.fleet.wait_replicated(dn_of(uid), other)
        return ["%s@example.org" % u for u in uids]

    def read(self, node, uid, attr):
        """The values of attr of uid's entry on node, read as the
        directory's administrator ([] when none)."""
        return self.read_dn(node, dn_of(uid), attr)

    def read_dn(self, node, dn, attr):
        """The values of attr of the entry dn on node ([] when none)."""
        c = self.fleet.conn(node)
        try:
            if not c.search(dn, "(objectClass=*)", ldap3.BASE,
                            attributes=[attr]):
                return []
            v = c.entries[0].entry_attributes_as_dict.get(attr, [])
            return [x.decode() if isinstance(x, bytes) else str(x)
                    for x in v]
        finally:
            c.unbind()

    def children(self, node, uid):
        """The DNs of uid's device entries on node."""
        c = self.fleet.conn(node)
        try:
            c.search(dn_of(uid), "(objectClass=mfadDevice)",
                     ldap3.LEVEL, attributes=[])
            return sorted(e.entry_dn for e in c.entries)
        finally:
            c.unbind()

    def same_on_both(self, uid, attr):
        """True when both providers hold the same values of attr."""
        return sorted(self.read(self.fleet.a, uid, attr)) == \
            sorted(self.read(self.fleet.b, uid, attr))

    def wait_both(self, uid, attr, pred, timeout=10):
        """Waits until pred(values of attr) holds on both providers."""
        for node in self.fleet.nodes:
            fh.wait_until(lambda: pred(self.read(node, uid, attr)), timeout,
                          "%s of %s on %s" % (attr, uid, node.url))

    def ensure_running(self):
        """Both providers up again (after a test stopped, killed or
        froze one)."""
        for n in self.fleet.nodes:
            if n.proc is not None and n.proc.poll() is None:
                n.proc.send_signal(signal.SIGCONT)
            if not n.running:
                n.proc = None
                n.start()


def write_secret(path, data):
    """A new file of root, mode 0600, holding data."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def own_node(fleet, name):
    return fleet.a if name == "host-a" else fleet.b


def directory_config(fleet, name, directory, key_file):
    """The mfad.conf sections of host name ("host-a" or "host-b"): its
    own provider first, then the other; bound as its own service entry,
    whose password file is written into directory."""
    first = own_node(fleet, name)
    second = fleet.b if first is fleet.a else fleet.a
    pw_file = Path(directory) / ("%s.pw" % name)
    if not pw_file.exists():
        write_secret(pw_file, (fh.HOST_PW + "\n").encode())
    return {"directory": {
        "uri": uri_list((first, second)),
        "base": fh.PEOPLE,
        "bind_dn": fh.HOST_A_DN if name == "host-a" else fh.HOST_B_DN,
        "bind_pw_file": pw_file,
        "ca_file": fleet.ca,
        "timeout": 1,
        "key_file": key_file,
        "host": name,
    }}


def dn_of(uid):
    return "uid=%s,%s" % (uid, fh.PEOPLE)
