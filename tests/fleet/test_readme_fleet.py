"""The README's "Fleet" section works as written.

The section's fenced blocks are the literal commands of an administrator
on Debian 12; the first line of each says where it runs ("# on each
provider", "# on one provider", "# on each host", "# on host1"). This
test runs them in order, with bash -e, against two slapd instances it
starts from a cn=config made the way Debian's package makes it, then
starts mfad on two hosts with the section's [directory] block, imports a
person on the first and logs in through PAM on the second. A broken
command, a misspelt attribute or a missing step fails a block or the
checks after it.

What cannot run on a shared test machine is replaced, and only that
(Provider.subst, host_subst and the [directory] edits below):
  - the debconf and apt-get block: its questions must be slapd's own
    (its debconf templates); the cn=config is then made as the package's
    postinst makes it (slapadd of /usr/share/slapd/slapd.init.ldif with
    @SUFFIX@ from slapd/domain and @PASSWORD@), plus the base entry;
  - paths: /etc/ldap/slapd.d, /var/lib/ldap, /var/run/slapd,
    /etc/ldap/tls, /etc/default/slapd and /etc/mfad become directories of
    the test; /usr/share/pam_mss/ldap becomes conf/ldap;
  - addresses: ldapi:/// becomes each instance's own socket,
    ldaps://ldapN.example.org/ and ldaps:/// 127.0.0.1 on a free port
    (the -h of each instance is SLAPD_SERVICES as the block leaves it,
    URL by URL, ldap:/// left out); "systemctl restart slapd" restarts
    the instance, which runs as root (no -u openldap);
  - the hosts: there is no mfad user, so "-o mfad" and "chown mfad"
    become "-o root" and "chown root", and mfad runs as root;
    "scp -p FILE host2:/etc/mfad/" is a local copy and "ssh host2 CMD"
    CMD on host2's directory; host2 writes $HOST2_PW where host1 writes
    $HOST1_PW, and its [directory] names host2 and lists its own
    provider first; ca_file is the test's CA; mfad's other sections are
    the test harness's (MssEnv: socket, database, SMTP sink).
"""

import configparser
import os
import re
import secrets
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

import argon2
import pytest

import fleet_harness as fh

sys.path.insert(0, str(fh.SRC / "tests" / "pam"))
import mss_harness as mh  # noqa: E402

README = fh.SRC / "README.md"
INIT_LDIF = Path("/usr/share/slapd/slapd.init.ldif")
DEBCONF_TEMPLATES = Path("/var/lib/dpkg/info/slapd.templates")
DEFAULT_SLAPD = Path("/etc/default/slapd")

SECRETS = {"ADMIN_PW": "admin-" + secrets.token_hex(8),
           "HOST1_PW": "host1-" + secrets.token_hex(8),
           "HOST2_PW": "host2-" + secrets.token_hex(8)}


def fleet_blocks():
    """The fenced blocks of the README's Fleet section, in order:
    (info string, where, text), indentation of the list item removed."""
    text = README.read_text()
    m = re.search(r"^## Fleet\n(.*?)^## ", text, re.M | re.S)
    assert m, "README.md has no Fleet section"
    out = []
    for b in re.finditer(r"^( *)```(\w*)\n(.*?)^\1```$", m.group(1),
                         re.M | re.S):
        indent = len(b.group(1))
        lines = [line[indent:] if line[:indent].strip() == "" else line
                 for line in b.group(3).splitlines()]
        where = ""
        if b.group(2) == "sh":
            assert lines[0].startswith("# on "), \
                "a shell block does not say where it runs:\n" + lines[0]
            where = lines[0][len("# on "):]
        out.append((b.group(2), where, "\n".join(lines) + "\n"))
    return out


def ldapi_url(path):
    return "ldapi://" + urllib.parse.quote(str(path), safe="")


class Provider:
    """One slapd instance in dir/provN with a cn=config of its own."""

    def __init__(self, root, n):
        self.n = n
        self.dir = Path(root) / ("prov%d" % n)
        self.confdir = self.dir / "slapd.d"
        self.data = self.dir / "data"
        self.tls = self.dir / "tls"
        self.default = self.dir / "default-slapd"
        self.sock = self.dir / "ldapi"
        self.port = fh.free_port()
        self.url = "ldaps://127.0.0.1:%d/" % self.port
        self.log = self.dir / "slapd.log"
        self.proc = None
        for d in (self.dir, self.confdir, self.data):
            d.mkdir(parents=True, exist_ok=True)
        # The package's default file, where the block edits SLAPD_SERVICES.
        self.default.write_text(DEFAULT_SLAPD.read_text()
                                if DEFAULT_SLAPD.exists() else
                                'SLAPD_SERVICES="ldap:/// ldapi:///"\n')

    def subst(self, text):
        """The README's paths and addresses, this instance's."""
        for a, b in (("/etc/ldap/slapd.d", self.confdir),
                     ("/var/lib/ldap", self.data),
                     ("/var/run/slapd", self.dir),
                     ("/etc/ldap/tls", self.tls),
                     ("/etc/default/slapd", self.default),
                     ("/usr/share/pam_mss/ldap", fh.LDAP_CONF),
                     ("ldapi:///", ldapi_url(self.sock))):
            text = text.replace(a, str(b))
        return text

    def package_config(self, suffix, domain):
        """cn=config and the base entry as slapd's postinst makes them."""
        hashed = subprocess.run(
            ["/usr/sbin/slappasswd", "-s", SECRETS["ADMIN_PW"]],
            check=True, capture_output=True, text=True).stdout.strip()
        init = self.subst(INIT_LDIF.read_text())
        init = init.replace("@SUFFIX@", suffix).replace("@PASSWORD@",
                                                         hashed)
        run([fh.SLAPADD, "-F", str(self.confdir), "-b", "cn=config"],
            input=init)
        dc = domain.split(".")[0]
        run([fh.SLAPADD, "-F", str(self.confdir), "-b", suffix],
            input="dn: %s\nobjectClass: top\nobjectClass: dcObject\n"
                  "objectClass: organization\no: Example\ndc: %s\n"
                  % (suffix, dc))

    def listeners(self):
        """SLAPD_SERVICES of the default file, URL by URL on this
        instance's socket and port."""
        m = re.search(r'^SLAPD_SERVICES="([^"]*)"', self.default.read_text(),
                      re.M)
        assert m, "no SLAPD_SERVICES in " + str(self.default)
        urls = []
        for u in m.group(1).split():
            if u in ("ldapi:///", ldapi_url(self.sock)):
                urls.append(ldapi_url(self.sock))
            elif u in ("ldaps:///", self.url):
                urls.append(self.url)
            # ldap:/// (389) is left out: the hosts use ldaps://.
        return urls

    def start(self):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [fh.SLAPD, "-F", str(self.confdir), "-h",
             " ".join(self.listeners()), "-d", "none"],
            stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        fh.wait_until(self._answers, 10, "slapd %d" % self.n)

    def _answers(self):
        if self.proc.poll() is not None:
            raise AssertionError("slapd %d exited (%s):\n%s" % (
                self.n, self.proc.returncode, self.log.read_text()[-3000:]))
        return self.sock.exists() and subprocess.run(
            ["ldapsearch", "-Q", "-Y", "EXTERNAL", "-H",
             ldapi_url(self.sock), "-s", "base", "-b", "cn=config", "1.1"],
            capture_output=True).returncode == 0

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def run(cmd, input=None, cwd=None):
    r = subprocess.run(cmd, input=input, capture_output=True, text=True,
                       cwd=cwd, timeout=30)
    assert r.returncode == 0, "%s: %d\n%s%s" % (cmd, r.returncode,
                                                r.stdout, r.stderr)
    return r.stdout


def run_block(text, cwd, what):
    env = dict(os.environ, **SECRETS)
    r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", text],
                       cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, "README block (%s) failed: %d\n%s\n%s%s" % (
        what, r.returncode, text, r.stdout, r.stderr)


def preseed(text):
    """The debconf block: every question slapd's, the domain it gives."""
    templates = set(re.findall(r"^Template: (\S+)",
                               DEBCONF_TEMPLATES.read_text(), re.M))
    values = {}
    for line in text.splitlines():
        m = re.match(r"slapd (\S+) (\w+) (.*)$", line)
        if m:
            assert m.group(1) in templates, \
                "not a debconf question of slapd: " + m.group(1)
            values[m.group(1)] = m.group(3)
    assert "debconf-set-selections" in text and \
        "apt-get install -y slapd" in text, text
    assert values.get("slapd/no_configuration") == "false", values
    assert values.get("slapd/password1") == "$ADMIN_PW" == \
        values.get("slapd/password2"), values
    return values["slapd/domain"]


def search(url, ca, base, attrs, dn=None, pw=None, filt="(objectClass=*)"):
    """ldapsearch over ldaps:// verified against ca; {attr: [values]} of
    the entry at base, {} when there is none (yet: a bind DN not
    replicated yet does not bind)."""
    cmd = ["ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", url,
           "-s", "base", "-b", base]
    if dn:
        cmd += ["-D", dn, "-w", pw]
    r = subprocess.run(cmd + [filt] + list(attrs), capture_output=True,
                       text=True, env=dict(os.environ, LDAPTLS_CACERT=str(ca)),
                       timeout=30)
    if r.returncode in (32, 49):
        return {}
    assert r.returncode == 0, r.stderr
    out = {}
    for line in r.stdout.splitlines():
        k, sep, v = line.partition(": ")
        if sep and k != "dn":
            out.setdefault(k, []).append(v)
    return out


@pytest.fixture
def world():
    root = Path(tempfile.mkdtemp(prefix="mss-readme-"))
    os.chmod(root, 0o755)
    provs = [Provider(root, 1), Provider(root, 2)]
    hosts = []
    yield root, provs, hosts
    for env in hosts:
        try:
            env.close(keep=os.environ.get("MSS_KEEP") == "1")
        finally:
            env.smtp.stop()
    for p in provs:
        p.stop()
    if os.environ.get("MSS_KEEP") != "1":
        subprocess.run(["rm", "-rf", str(root)])


def test_readme_fleet_section_as_written(world):
    root, provs, hosts = world
    for f in (INIT_LDIF, DEBCONF_TEMPLATES):
        assert f.exists(), "slapd's package file %s is missing" % f
    blocks = fleet_blocks()
    ca, cert, key = fh.make_ca(root / "ca", name="readme fleet CA")
    by_name = {"ldaps://ldap%d.example.org/" % p.n: p.url for p in provs}

    def subst(text, p):
        for a, b in by_name.items():
            text = text.replace(a, b)
        return p.subst(text)

    shell = [(w, t) for lang, w, t in blocks if lang == "sh"]
    ini = [t for lang, w, t in blocks if lang == "ini"]
    assert len(ini) == 1, "one [directory] block"
    assert shell and "debconf-set-selections" in shell[0][1], \
        "the section starts with slapd's database"

    # 1. slapd with a database: the package's configuration, as preseeded.
    domain = preseed(shell[0][1])
    suffix = ",".join("dc=" + x for x in domain.split("."))
    assert suffix == "dc=example,dc=org", suffix
    for p in provs:
        p.package_config(suffix, domain)
        # The certificate, key and CA the TLS block installs, in the
        # directory it runs in (one certificate for 127.0.0.1 serves
        # both instances).
        for src, name in ((ca, "ca.pem"), (cert, "ldap.pem"),
                          (key, "ldap.key")):
            (p.dir / name).write_bytes(Path(src).read_bytes())

    # The provider blocks, in order; "# on one provider" on the first.
    for where, text in shell[1:]:
        if where not in ("each provider", "one provider"):
            continue
        for p in provs if where == "each provider" else provs[:1]:
            lines = subst(text, p).splitlines(True)
            restart = any(x.startswith("systemctl restart slapd")
                          for x in lines)
            body = "".join(x for x in lines
                           if not x.startswith("systemctl "))
            if p.proc is None and "ldapi" in body and not restart:
                p.start()
            run_block(body, p.dir, "on provider %d" % p.n)
            if restart:
                p.stop()
                p.start()

    # Replicated, over ldaps:// verified against the CA, to the provider
    # the entries were not added on; the host entry binds there.
    host2_dn = "cn=host2,ou=mfad,ou=services," + suffix
    alice = "uid=alice,ou=people," + suffix
    fh.wait_until(lambda: search(provs[1].url, ca, alice, ["mail"],
                                 host2_dn, SECRETS["HOST2_PW"]),
                  10, "the README's person on provider 2")

    # A restart keeps the configuration (cn=config as written, the
    # accesslog database after the main one).
    provs[1].stop()
    provs[1].start()

    # The hosts: the blocks on each host and on host1, with /etc/mfad
    # one directory per host.
    hdirs = {h: root / h for h in ("host1", "host2")}
    for d in hdirs.values():
        d.mkdir(mode=0o755)
    (hdirs["host1"] / "example-ca.pem").write_bytes(Path(ca).read_bytes())
    (hdirs["host2"] / "example-ca.pem").write_bytes(Path(ca).read_bytes())

    def host_subst(text, h):
        text = re.sub(r"(-o |chown )mfad\b", r"\1root", text)
        text = re.sub(r"scp -p (\S+) host2:/etc/mfad/",
                      r"cp -p \1 %s/" % hdirs["host2"], text)
        text = re.sub(r"^ssh host2 (.*)$",
                      lambda m: m.group(1).replace("/etc/mfad",
                                                   str(hdirs["host2"])),
                      text, flags=re.M)
        text = text.replace("/etc/mfad", str(hdirs[h]))
        if h == "host2":
            text = text.replace("HOST1_PW", "HOST2_PW")
        return text

    ran = set()
    for where, text in shell[1:]:
        if where == "each host":
            for h in hdirs:
                run_block(host_subst(text, h), hdirs[h], "on " + h)
        elif where == "host1":
            run_block(host_subst(text, "host1"), hdirs["host1"], "on host1")
        ran.add(where)
    assert {"each host", "host1"} <= ran, ran
    for h in hdirs:
        for f in ("ldap.pw", "fleet.key"):
            st = (hdirs[h] / f).stat()
            assert st.st_mode & 0o777 == 0o600, (h, f, oct(st.st_mode))
    assert (hdirs["host1"] / "fleet.key").read_bytes() == \
        (hdirs["host2"] / "fleet.key").read_bytes()
    assert len((hdirs["host1"] / "fleet.key").read_bytes()) == 32

    # [directory] as written, on each host; mfad -t accepts it.
    for h, d in hdirs.items():
        text = ini[0].replace("/etc/mfad", str(d)).replace(
            "/etc/ssl/certs/example-ca.pem", str(d / "example-ca.pem"))
        for a, b in by_name.items():
            text = text.replace(a.rstrip("/"), b.rstrip("/"))
        if h == "host2":
            text = text.replace("host1", "host2")
            uris = text.split("uri = ")[1].split("\n")[0].split()
            text = text.replace(" ".join(uris), " ".join(uris[::-1]))
        cp = configparser.ConfigParser(interpolation=None)
        cp.read_string(text)
        conf = {s: dict(cp[s]) for s in cp.sections()}
        smtp = mh.SmtpServer()
        smtp.start()
        env = mh.MssEnv(smtp, conf)
        hosts.append(env)
        r = subprocess.run([str(mh.MFAD), "-t", "-c", str(env.conf)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        env.start()
    h1, h2 = hosts

    # Import once, on host1: alice (a person of the README) gets an
    # account; bob, who has no person entry, is refused on his line.
    hashed = argon2.PasswordHasher(time_cost=2, memory_cost=19456,
                                   parallelism=1).hash(mh.PASSWORD)
    csv = h1.dir / "people.csv"
    csv.write_text("user,email,lang,hash\nalice,alice@example.org,en,"
                   "\"%s\"\nbob,bob@example.org,en,\n" % hashed)
    rc, out, err = h1.ctl("import", csv)
    assert "alice: added" in out, out + err
    assert "no person entry in the directory" in out + err, out + err

    # One login on host2, through PAM, with the mailed code.
    h2.full_login("alice")
    fh.wait_until(lambda: search(provs[0].url, ca, alice,
                                 ["mfadLastLogin"], fh.ADMIN_DN,
                                 SECRETS["ADMIN_PW"]).get("mfadLastLogin"),
                  10, "host2's login on provider 1")

    # What the hosts wrote stays hidden from an anonymous bind.
    anon = search(provs[0].url, ca, alice, ["*"])
    assert anon.get("mail") == ["alice@example.org"], anon
    hidden = [a for a in anon if a.startswith("mfad")]
    assert not hidden, "anonymous reads %s" % hidden
    # Nor any of mfad's entries under the people (devices, the mail
    # throttle's container and records), which cn=admin does see.
    mine = "(|(objectClass=mfadDevice)(objectClass=mfadThrottle)" \
        "(ou=mfad-throttle)(mfadState=*))"

    def subtree(dn=None, pw=None):
        cmd = ["ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H",
               provs[0].url, "-b", "ou=people," + suffix]
        if dn:
            cmd += ["-D", dn, "-w", pw]
        r = subprocess.run(cmd + [mine, "1.1"], capture_output=True,
                           text=True, timeout=30,
                           env=dict(os.environ, LDAPTLS_CACERT=str(ca)))
        assert r.returncode == 0, r.stderr
        return [line for line in r.stdout.splitlines()
                if line.startswith("dn:")]
    assert alice in " ".join(subtree(fh.ADMIN_DN, SECRETS["ADMIN_PW"]))
    assert subtree() == [], "anonymous finds %s" % subtree()
