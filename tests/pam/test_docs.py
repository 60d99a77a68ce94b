"""The documentation says what the code does: the USER_IMPORT limits of
common/mss_proto.h in doc/PROTOCOL.md and mfadctl(8), every key of
mfad_conf.c's table (section, range, default) in mfad.conf(5), every
command of mfadctl.c's table and the exit statuses of mfadctl_client.h in
mfadctl(8) and the README, and mfad's exit statuses in mfad(8). Each
test reads the numbers from the C sources, so a change on either side that
the other does not follow fails here."""

import re

from mss_harness import SRC_ROOT

PROTO_H = SRC_ROOT / "common" / "mss_proto.h"
CONF_C = SRC_ROOT / "mfad" / "mfad_conf.c"
CTL_C = SRC_ROOT / "mfad" / "mfadctl.c"
CTL_CLIENT_H = SRC_ROOT / "mfad" / "mfadctl_client.h"
MFAD_C = SRC_ROOT / "mfad" / "mfad.c"
PROTOCOL = SRC_ROOT / "doc" / "PROTOCOL.md"
MAN = SRC_ROOT / "man"
README = SRC_ROOT / "README.md"


def defines(path):
    return {m.group(1): m.group(2) for m in re.finditer(
        r"^#define\s+(\w+)\s+(\S+)", path.read_text(), re.M)}


def text_of(mdoc):
    """mdoc source as running text: macros dropped, words kept."""
    out = []
    for line in mdoc.splitlines():
        if line.startswith(".\\\""):
            continue
        if line.startswith("."):
            line = re.sub(r"^\.\w+\s*", "", line)
            line = re.sub(r"\b(Ns|No|Cm|Ar|Li|Fl|Op|Pq|Ql|Dq|Sy|Ic|Xr|"
                          r"Pa|Ev|Dv|Nm|Ta)\b\s*", "", line)
        out.append(line)
    return re.sub(r"\s+", " ", " ".join(out))


# --------------------------------------------------------------------------
# Import limits


def test_import_limits_as_in_the_protocol_header():
    d = defines(PROTO_H)
    rows, devs, row_devs = (int(d["MSS_IMPORT_ROWS"]),
                            int(d["MSS_IMPORT_DEVICES"]),
                            int(d["MSS_IMPORT_ROW_DEVICES"]))
    line, = [ln for ln in PROTOCOL.read_text().splitlines()
             if "| USER_IMPORT |" in ln]
    m = re.search(r"u32 n \(at most (\d+)\).*u32 ndev \(at most (\d+); "
                  r"at most (\d+) in the request\)", line)
    assert m, line
    assert tuple(map(int, m.groups())) == (rows, row_devs, devs), line
    ctl = text_of((MAN / "mfadctl.8").read_text())
    m = re.search(r"batches of up to (\d+) \(and (\d+) devices\)", ctl)
    assert m, "mfadctl(8) states no import batch size"
    assert tuple(map(int, m.groups())) == (rows, devs), m.group(0)
    m = re.search(r"Each device , up to (\d+),", ctl)
    assert m and int(m.group(1)) == row_devs, "devices a line in mfadctl(8)"
    assert "up to %d)" % row_devs in README.read_text()


# --------------------------------------------------------------------------
# mfad.conf keys


def conf_keys():
    """(section, key, setter, field, min, max) of mfad_conf.c's table."""
    src = CONF_C.read_text()
    table = src[src.index("conf_keys[] = {"):]
    table = table[:table.index("};")]
    keys = []
    for m in re.finditer(r'\{\s*"(\w+)",\s*"(\w+)",\s*(\w+),\s*'
                         r'(?:OFF\((\w+)\)|0),\s*([^,]+),\s*([^}]+?)\s*\}',
                         table):
        keys.append(m.groups())
    assert len(keys) > 20, "cannot read conf_keys"
    return keys


def conf_defaults():
    """field -> the value mfad_conf_new gives it, for plain numbers."""
    src = CONF_C.read_text()
    body = src[src.index("mfad_conf_new(void)"):]
    body = body[:body.index("\n}\n")]
    return {m.group(1): int(m.group(2)) for m in re.finditer(
        r"conf->(\w+) = (\d+);", body)}


def man_sections(path):
    """{section: {key: text of its entry}} from '.Ss The [section]
    section' and '.It Cm key No = ...' of a man page."""
    out, sec, key = {}, None, None
    for line in path.read_text().splitlines():
        m = re.match(r"\.Ss The \[(\w+)\] section", line)
        if m:
            sec, key = m.group(1), None
            out[sec] = {}
            continue
        if line.startswith(".Sh"):
            sec = key = None
            continue
        m = re.match(r"\.It Cm (\w+) No = ", line)
        if sec is not None and m:
            key = m.group(1)
            out[sec][key] = []
            continue
        if sec is not None and key is not None:
            out[sec][key].append(line)
    return {s: {k: text_of("\n".join(v)) for k, v in keys.items()}
            for s, keys in out.items()}


def test_every_config_key_documented_with_its_range_and_default():
    man = man_sections(MAN / "mfad.conf.5")
    defaults = conf_defaults()
    table = set()
    for sec, key, setter, field, lo, hi in conf_keys():
        table.add((sec, key))
        assert key in man.get(sec, {}), "[%s] %s not in mfad.conf(5)" % (
            sec, key)
        entry = man[sec][key]
        if setter == "conf_set_uint":
            assert "from %s to %s" % (lo, hi) in entry, \
                "[%s] %s: the code says %s to %s: %s" % (sec, key, lo, hi,
                                                         entry)
        if setter == "conf_set_uint" and field in defaults:
            m = re.search(r"Default: (\d+)\.", entry)
            assert m and int(m.group(1)) == defaults[field], \
                "[%s] %s: default %s in the code: %s" % (
                    sec, key, defaults[field], entry)
    documented = {(s, k) for s, keys in man.items() for k in keys}
    assert documented == table, documented ^ table


# --------------------------------------------------------------------------
# mfadctl commands and exit statuses


def ctl_commands():
    src = CTL_C.read_text()
    table = src[src.index("ctl_cmds[] = {"):]
    table = table[:table.index("};")]
    cmds = re.findall(r'\{\s*"(\w+)",\s*(?:"(\w+)"|NULL),\s*\d+,\s*\d+,'
                      r'\s*\w+,\s*\w+,\s*"([^"]*)"', table)
    assert len(cmds) > 10, "cannot read ctl_cmds"
    return [((g + " " + v).strip(), usage) for g, v, usage in cmds]


def man_commands(mdoc):
    """The command names of the COMMANDS list (its own items only, not
    those of the lists nested in it or following it) and the section."""
    sec = mdoc[mdoc.index(".Sh COMMANDS"):]
    sec = sec[:sec.index("\n.Sh ", 1)]
    names, depth, lines = set(), 0, sec.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(".Bl"):
            depth += 1
        elif line.startswith(".El"):
            depth -= 1
            if depth == 0:
                break
        elif depth == 1 and line.startswith(".It"):
            # ".It Cm user del Ar user", or ".It Xo" then ".Cm user add".
            item = lines[i + 1] if line == ".It Xo" else line
            m = re.match(r"\.(?:It )?Cm ([a-z ]+?)(?: Ar| Op|$)", item)
            assert m, item
            names.add(m.group(1).strip())
    return names, sec


def test_every_mfadctl_command_and_option_documented():
    mdoc = (MAN / "mfadctl.8").read_text()
    names, sec = man_commands(mdoc)
    table = ctl_commands()
    assert names == {name for name, _ in table}, \
        names ^ {name for name, _ in table}
    for name, usage in table:
        for opt in re.findall(r"--([a-z-]+)", usage):
            assert "Fl Fl " + opt in sec, "%s --%s not in mfadctl(8)" % (
                name, opt)


def exit_statuses(mdoc):
    sec = mdoc[mdoc.index(".Sh EXIT STATUS"):]
    sec = sec[:sec.index("\n.Sh ", 1)]
    return [int(n) for n in re.findall(r"^\.It (\d+)$", sec, re.M)], sec


def test_mfadctl_exit_statuses_documented():
    src = CTL_CLIENT_H.read_text()
    code = sorted(int(n) for n in re.findall(r"CTL_EXIT_\w+ = (\d+),", src))
    man, _ = exit_statuses((MAN / "mfadctl.8").read_text())
    assert man == code
    readme = re.sub(r"\s+", " ", README.read_text())
    m = re.search(r"`mfadctl` exits ((?:\d+ [^,]+, )+\d+ [^,]+ and \d+ )",
                  readme)
    assert m, "the README does not list mfadctl's exit statuses"
    assert sorted(int(n) for n in re.findall(r"\b(\d)\b", m.group(1))) == \
        code


def test_mfad_exit_statuses_documented():
    """mfad.c: 0, 1 (cannot start, -t finds an error) and usage() exits
    2; mfad(8) names each."""
    src = MFAD_C.read_text()
    usage = src[src.index("\nusage(void)"):]
    usage = usage[:usage.index("\n}\n")]
    code = {0, 1} | {int(n) for n in re.findall(r"exit\((\d+)\)", usage)}
    _, sec = exit_statuses((MAN / "mfad.8").read_text())
    said = text_of(sec)
    for n in sorted(code):
        assert re.search(r"\b(exits|and) %d\b" % n, said), \
            "exit status %d not in mfad(8): %s" % (n, said)
