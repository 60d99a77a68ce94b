"""Two OpenLDAP providers on 127.0.0.1 for the fleet tests.

Both load conf/ldap/mfad.schema and conf/ldap/mfad-acl.conf and replicate
each other with delta-syncrepl (an accesslog database, syncdata=accesslog):
plain multi-provider replication loses values added at the same time on
the two nodes. Each slapd is a foreground child of the test (-d none: only
the messages slapd logs at any level, its errors, go to slapd.log); a node
listens on ldap:// (STARTTLS offered) and ldaps://, with a certificate of
a CA made here by openssl.
"""

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[2]
LDAP_CONF = SRC / "conf" / "ldap"
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")
SLAPD = "/usr/sbin/slapd"
SLAPTEST = "/usr/sbin/slaptest"
SLAPADD = "/usr/sbin/slapadd"

BASE = "dc=example,dc=org"
ADMIN_DN = "cn=admin," + BASE
ADMIN_PW = "admin-secret"
PEOPLE = "ou=people," + BASE
HOSTS_OU = "ou=mfad,ou=services," + BASE
HOST_A_DN = "cn=host-a," + HOSTS_OU
HOST_B_DN = "cn=host-b," + HOSTS_OU
HOST_PW = "host-secret"
MONITOR_DN = "cn=mfad-monitor,ou=services," + BASE
MONITOR_PW = "monitor-secret"

# The standard schema mfad.schema builds on.
BASE_SCHEMAS = ("core", "cosine", "inetorgperson")


def free_ports(n):
    """n distinct free ports below the kernel's range for outgoing
    connections: a provider stopped and started again finds its ports
    free, where one from that range can meanwhile be the local port of a
    connection (a consumer retrying it, any client), and slapd's bind
    fails. Each port stays bound until all n are chosen, so no two are
    the same."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    rng = random.SystemRandom()
    held = []
    try:
        for _ in range(200 * n):
            if len(held) == n:
                break
            port = rng.randrange(10000, max(low, 10001))
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            held.append(s)
        if len(held) < n:
            raise AssertionError("no %d free ports below %d" % (n, low))
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


def free_port():
    """One free port, as free_ports."""
    return free_ports(1)[0]


def missing_tools():
    need = [SLAPD, SLAPTEST, SLAPADD, "/usr/bin/ldapsearch",
            "/usr/bin/ldapmodify", "/usr/bin/openssl",
            str(MODULE_DIR / "back_mdb.so"), str(MODULE_DIR / "syncprov.so"),
            str(MODULE_DIR / "accesslog.so")]
    return [p for p in need if not os.path.exists(p)]


def wait_until(pred, timeout=10, what="condition", step=0.02):
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return
        if time.monotonic() > deadline:
            raise AssertionError("%s not met within %ss" % (what, timeout))
        time.sleep(step)


def make_ca(directory, hosts=("localhost",), ips=("127.0.0.1",),
            name="fleet test CA"):
    """A CA and a server certificate signed by it, made by openssl.
    Returns (ca.pem, server.pem, server.key)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    ca_key, ca = d / "ca.key", d / "ca.pem"
    key, csr, cert = d / "server.key", d / "server.csr", d / "server.pem"
    ext = d / "server.ext"
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "ec",
        "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(ca_key), "-out", str(ca), "-days", "2",
        "-subj", "/CN=" + name,
        "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", "-newkey", "ec",
        "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(csr), "-subj", "/CN=" + hosts[0])
    san = ",".join(["DNS:" + h for h in hosts] + ["IP:" + i for i in ips])
    ext.write_text("basicConstraints=critical,CA:FALSE\n"
                   "extendedKeyUsage=serverAuth\n"
                   "subjectAltName=%s\n" % san)
    run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca),
        "-CAkey", str(ca_key), "-CAcreateserial", "-out", str(cert),
        "-days", "2", "-extfile", str(ext))
    os.chmod(key, 0o600)
    return ca, cert, key


def slapd_conf(dirs, urls, ca, cert, key, acl=True):
    """One slapd.conf for both nodes: each finds itself among the serverID
    lines by its listening URL and skips the syncrepl stanza that points at
    itself. dirs: this node's directory."""
    d = Path(dirs)
    lines = ["include %s" % (SCHEMA_DIR / (s + ".schema"))
             for s in BASE_SCHEMAS]
    lines += [
        "include %s" % (LDAP_CONF / "mfad.schema"),
        "pidfile %s" % (d / "slapd.pid"),
        "argsfile %s" % (d / "slapd.args"),
        "modulepath %s" % MODULE_DIR,
        "moduleload back_mdb",
        "moduleload syncprov",
        "moduleload accesslog",
        "TLSCACertificateFile %s" % ca,
        "TLSCertificateFile %s" % cert,
        "TLSCertificateKeyFile %s" % key,
    ]
    for i, u in enumerate(urls):
        lines.append("serverID %d %s" % (i + 1, u))
    lines += [
        "",
        "database mdb",
        "suffix cn=accesslog",
        "directory %s" % (d / "accesslog"),
        "maxsize 67108864",
        "index default eq",
        "index entryCSN,objectClass,reqEnd,reqResult,reqStart,reqDN",
        "overlay syncprov",
        "syncprov-nopresent TRUE",
        "syncprov-reloadhint TRUE",
        'access to * by dn.exact="%s" read by * none' % ADMIN_DN,
        "",
        "database mdb",
        "suffix %s" % BASE,
        "rootdn %s" % ADMIN_DN,
        "rootpw %s" % ADMIN_PW,
        "directory %s" % (d / "main"),
        "maxsize 67108864",
        "index objectClass,entryCSN,entryUUID,uid,mail,mfadExpires,"
        "mfadThrottleId eq",
    ]
    for i, u in enumerate(urls):
        lines.append(
            'syncrepl rid=%03d provider=%s bindmethod=simple '
            'binddn="%s" credentials=%s searchbase="%s" '
            'type=refreshAndPersist retry="1 +" timeout=1 '
            'logbase="cn=accesslog" '
            'logfilter="(&(objectClass=auditWriteObject)(reqResult=0))" '
            'syncdata=accesslog' % (i + 1, u, ADMIN_DN, ADMIN_PW, BASE))
    lines += [
        "multiprovider on",
        "overlay syncprov",
        "overlay accesslog",
        "logdb cn=accesslog",
        "logops writes",
        "logsuccess TRUE",
        "logpurge 07+00:00 01+00:00",
    ]
    if acl:
        lines.append("include %s" % (LDAP_CONF / "mfad-acl.conf"))
    # The organisation's own rules, after mfad's.
    lines += [
        "access to attrs=userPassword by self write by anonymous auth "
        "by * none",
        "access to * by * read",
    ]
    return "\n".join(lines) + "\n"


def node_url(port, scheme="ldap"):
    """The URL of a provider of this host's fleet on port."""
    return "%s://127.0.0.1:%d/" % (scheme, port)


class Slapd:
    """One provider: start(), stop(), url, ldaps_url."""

    def __init__(self, directory, port, sport, conf_text):
        self.dir = Path(directory)
        self.conf = self.dir / "slapd.conf"
        self.log = self.dir / "slapd.log"
        for sub in ("main", "accesslog"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.listen(port, sport, conf_text)
        self.proc = None

    def listen(self, port, sport, conf_text):
        """Its two ports (LDAP and LDAPS), and the configuration that
        names them, written for its next start."""
        self.port, self.sport = port, sport
        self.url = node_url(port)
        self.ldaps_url = node_url(sport, "ldaps")
        self.conf.write_text(conf_text)

    def start(self, timeout=10):
        assert self.proc is None
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [SLAPD, "-f", str(self.conf), "-h",
             "%s %s" % (self.url, self.ldaps_url), "-d", "none"],
            stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        wait_until(self._answers, timeout, "slapd on %s" % self.url)

    def _answers(self):
        if self.proc.poll() is not None:
            raise AssertionError("slapd exited (%s):\n%s" % (
                self.proc.returncode, self.log.read_text()[-3000:]))
        for port in (self.port, self.sport):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
            except OSError:
                return False
        return True

    def stop(self):
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def kill(self):
        """Gone at once, as a crashed server."""
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def report(self, lines=40):
        """Its state (running, stopped by the harness, or exited with a
        status; below zero, the signal's) and the last lines of its
        log, for a failed test's output."""
        if self.proc is None:
            state = "stopped"
        elif self.proc.poll() is None:
            state = "running"
        else:
            state = "exited, status %d" % self.proc.returncode
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError as e:
            text = ["(no log: %s)" % e]
        # Deferred operations are slapd's flow control, one line each.
        text = [t for t in text if "deferring operation" not in t]
        return "---- slapd %s: %s ----\n%s" % (
            self.url, state, "\n".join(text[-lines:]))


class Fleet:
    """Two providers, A and B, with the test entries added on A."""

    def __init__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="mss-fleet-"))
        self.ca, self.cert, self.key = make_ca(self.tmp / "tls")
        self.nodes = []
        for name in "ab":
            self.nodes.append(Slapd(self.tmp / name, 0, 0, ""))
        self.a, self.b = self.nodes
        self.place(free_ports(4))

    def place(self, ports):
        """The four ports of the two nodes, and the configuration that
        names them: each node's listeners, and its peer's URL."""
        urls = [node_url(p) for p in ports[:2]]
        for i, n in enumerate(self.nodes):
            n.listen(ports[i], ports[2 + i],
                     slapd_conf(n.dir, urls, self.ca, self.cert, self.key))

    def start(self):
        """Both nodes, then the test entries. A first start that finds a
        port taken meanwhile (another program may bind a free port between
        the choice and slapd's bind) starts again on four new ones."""
        for attempt in range(3):
            try:
                for n in self.nodes:
                    n.start()
                break
            except AssertionError:
                taken = any("errno=98" in n.log.read_text()
                            for n in self.nodes if n.log.exists())
                for n in self.nodes:
                    n.stop()
                if not taken or attempt == 2:
                    raise
                for n in self.nodes:
                    n.log.write_text("")
                    for sub in ("main", "accesslog"):
                        shutil.rmtree(n.dir / sub)
                        (n.dir / sub).mkdir()
                self.place(free_ports(4))
        self.populate()

    def populate(self):
        import ldap3
        c = self.conn(self.a)
        entries = [
            (BASE, ["dcObject", "organization"],
             {"dc": "example", "o": "Example"}),
            (PEOPLE, ["organizationalUnit"], {"ou": "people"}),
            ("ou=services," + BASE, ["organizationalUnit"],
             {"ou": "services"}),
            (HOSTS_OU, ["organizationalUnit"], {"ou": "mfad"}),
        ]
        for dn, pw in ((HOST_A_DN, HOST_PW), (HOST_B_DN, HOST_PW),
                       (MONITOR_DN, MONITOR_PW)):
            entries.append((dn, ["applicationProcess", "simpleSecurityObject"],
                            {"userPassword": pw}))
        for dn, oc, attrs in entries:
            if not c.add(dn, oc, attrs):
                raise AssertionError("add %s: %s" % (dn, c.result))
        c.unbind()
        self.wait_replicated(HOST_B_DN)
        del ldap3

    def wait_replicated(self, dn, node=None, timeout=10):
        node = node or self.b
        c = self.conn(node)
        try:
            wait_until(lambda: self.exists(c, dn), timeout,
                       "%s on %s" % (dn, node.url))
        finally:
            c.unbind()

    def wait_in_sync(self, node, timeout=15):
        """After node's start: a change made on each provider read on
        the other, so that the replication runs both ways again (the
        other's consumer reconnects to node at its next retry)."""
        import ldap3
        other = self.b if node is self.a else self.a
        dn = "ou=services," + BASE
        for src, dst in ((node, other), (other, node)):
            mark = "in sync %d" % time.time_ns()
            w = self.conn(src)
            try:
                if not w.modify(dn, {"description": [
                        (ldap3.MODIFY_REPLACE, [mark])]}):
                    raise AssertionError("mark %s: %s" % (dn, w.result))
            finally:
                w.unbind()
            r = self.conn(dst)
            try:
                wait_until(lambda: r.search(
                    dn, "(description=%s)" % mark, ldap3.BASE,
                    attributes=[]) and len(r.entries) == 1, timeout,
                    "%s's change on %s" % (src.url, dst.url))
            finally:
                r.unbind()

    @staticmethod
    def exists(c, dn):
        import ldap3
        return c.search(dn, "(objectClass=*)", ldap3.BASE, attributes=[])

    def conn(self, node, dn=ADMIN_DN, pw=ADMIN_PW):
        """A bound ldap3 connection (raises on a failed bind)."""
        import ldap3
        server = ldap3.Server("127.0.0.1", port=node.port, connect_timeout=5)
        return ldap3.Connection(server, dn, pw, auto_bind=True,
                                receive_timeout=10, raise_exceptions=False)

    def close(self, keep=False):
        for n in self.nodes:
            n.stop()
        if keep:
            print("kept", self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


class DriverProc:
    """A C test driver (dir_driver, store_driver) run as a child: its
    stderr goes to err_path under the fleet's directory, its stdin and
    stdout carry one command and one answer a line."""

    def __init__(self, fleet, driver, args, tag):
        if not driver.exists():
            import pytest
            pytest.fail("not built (set MSS_BUILDDIR): %s" % driver)
        self.err_path = fleet.tmp / ("%s.err" % tag)
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen([str(driver)] + list(args),
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=self.err, text=True)

    def log(self):
        self.err.flush()
        return self.err_path.read_text()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(10)
        self.err.close()


def person(uid, mfad=True, **extra):
    """(dn, objectClass, attributes) of a person."""
    oc = ["inetOrgPerson"] + (["mfadAccount"] if mfad else [])
    attrs = {"uid": uid, "cn": uid.title(), "sn": uid.title(),
             "mail": "%s@example.org" % uid}
    attrs.update(extra)
    return "uid=%s,%s" % (uid, PEOPLE), oc, attrs
