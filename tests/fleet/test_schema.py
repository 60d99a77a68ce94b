"""conf/ldap: the schema and the access rules in both forms, slapd.conf
(mfad.schema, mfad-acl.conf) and cn=config (mfad.ldif, mfad-acl.ldif),
load into slapd and say the same thing."""

import re
import subprocess

import fleet_harness as h

PEERCRED = "gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth"


def conf_text(d, schema=True, acl=True):
    lines = ["include %s" % (h.SCHEMA_DIR / (s + ".schema"))
             for s in h.BASE_SCHEMAS]
    if schema:
        lines.append("include %s" % (h.LDAP_CONF / "mfad.schema"))
    lines += ["pidfile %s/slapd.pid" % d,
              "modulepath %s" % h.MODULE_DIR, "moduleload back_mdb",
              "database config", 'rootdn "%s"' % PEERCRED,
              "database mdb", "suffix %s" % h.BASE,
              "rootdn %s" % h.ADMIN_DN, "directory %s/db" % d]
    if acl:
        lines.append("include %s" % (h.LDAP_CONF / "mfad-acl.conf"))
    return "\n".join(lines) + "\n"


def convert(tmp, name, **kw):
    """slaptest: a slapd.conf to a cn=config directory."""
    d = tmp / name
    (d / "db").mkdir(parents=True)
    (d / "slapd.d").mkdir()
    (d / "slapd.conf").write_text(conf_text(d, **kw))
    # slaptest opens the database read-only: slapadd makes an empty one.
    r = subprocess.run([h.SLAPADD, "-f", str(d / "slapd.conf"), "-l",
                        "/dev/null"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([h.SLAPTEST, "-f", str(d / "slapd.conf"), "-F",
                        str(d / "slapd.d")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return d / "slapd.d"


def values(ldif_text, attr):
    """The values of attr in an LDIF text, unfolded, without the {N}
    ordering prefix and with runs of blanks made one."""
    text = re.sub(r"\n ", "", ldif_text)
    out = []
    for line in text.splitlines():
        if line.lower().startswith(attr.lower() + ":"):
            v = line.split(":", 1)[1].strip()
            v = re.sub(r"^\{\d+\}", "", v)
            out.append(re.sub(r"\s+", " ", v))
    return out


def acl_canon(rules):
    """slapd keeps an olcAccess value as given but writes a converted
    slapd.conf rule in its own spelling: the same spelling for both."""
    out = []
    for r in rules:
        r = re.sub(r"dn\.onelevel=", "dn.one=", r)
        r = re.sub(r"dn\.exact=", "dn.base=", r)
        r = re.sub(r'filter=(\([^ ]*\))(?= )', r'filter="\1"', r)
        r = re.sub(r"val=(\w+)", r'val.exact="\1"', r)
        r = re.sub(r"by \* \+0 break", "by * break", r)
        out.append(r)
    return out


def test_schema_file_loads(tmp_path):
    d = convert(tmp_path, "conf")
    text = (d / "cn=config" / "cn=schema" / "cn={3}mfad.ldif").read_text()
    attrs = values(text, "olcAttributeTypes")
    classes = values(text, "olcObjectClasses")
    assert len(attrs) == 20 and len(classes) == 3
    # Per-event attributes are multi-valued; the rest are not.
    for a in attrs:
        name = re.search(r"NAME '(\w+)'", a).group(1)
        multi = name in ("mfadFailure", "mfadSend", "mfadRecoveryCode",
                         "mfadLockedUntil", "mfadThrottleSend")
        assert ("SINGLE-VALUE" not in a) == multi, a
    r = subprocess.run([h.SLAPTEST, "-F", str(d)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr


def test_ldif_forms_match_and_load_into_cn_config(tmp_path):
    """mfad.ldif and mfad-acl.ldif added to a running slapd's cn=config
    give what slaptest makes of mfad.schema and mfad-acl.conf: the
    schema, the access rules and the hosts' limits."""
    want = convert(tmp_path, "want") / "cn=config"
    live = convert(tmp_path, "live", schema=False, acl=False)
    sock = tmp_path / "ldapi"
    uri = "ldapi://" + str(sock).replace("/", "%2F")
    proc = subprocess.Popen([h.SLAPD, "-F", str(live), "-h", uri, "-d", "none"],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        # The socket exists before slapd accepts on it: wait for an
        # answer, not for the file (a loaded machine shows the gap).
        h.wait_until(lambda: sock.exists() and subprocess.run(
            ["ldapsearch", "-Q", "-Y", "EXTERNAL", "-H", uri, "-s", "base",
             "-b", "cn=config", "1.1"], capture_output=True).returncode == 0,
            10, "slapd answering on its ldapi socket")
        for f, tool in (("mfad.ldif", "ldapadd"),
                        ("mfad-acl.ldif", "ldapmodify")):
            r = subprocess.run([tool, "-Q", "-Y", "EXTERNAL", "-H", uri,
                                "-f", str(h.LDAP_CONF / f)],
                               capture_output=True, text=True)
            assert r.returncode == 0, (f, r.stderr)

        def search(base, attr):
            r = subprocess.run(["ldapsearch", "-Q", "-LLL", "-Y", "EXTERNAL",
                                "-H", uri, "-b", base, "-s", "base",
                                "(objectClass=*)", attr],
                               capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            return r.stdout
        got = search("cn={3}mfad,cn=schema,cn=config", "*")
        schema = (want / "cn=schema" / "cn={3}mfad.ldif").read_text()
        for attr in ("olcObjectIdentifier", "olcAttributeTypes",
                     "olcObjectClasses"):
            assert values(got, attr) == values(schema, attr), attr
        got = search("olcDatabase={1}mdb,cn=config", "olcAccess")
        db = (want / "olcDatabase={1}mdb.ldif").read_text()
        assert len(values(db, "olcAccess")) == 12
        assert acl_canon(values(got, "olcAccess")) == \
            acl_canon(values(db, "olcAccess"))
        got = search("olcDatabase={1}mdb,cn=config", "olcLimits")
        assert len(values(db, "olcLimits")) == 1
        assert values(got, "olcLimits") == values(db, "olcLimits")
    finally:
        proc.terminate()
        proc.wait(10)
