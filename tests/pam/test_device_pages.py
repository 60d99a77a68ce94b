"""`mfadctl device list` of an account with more remembered devices than
one 64 KiB frame holds: the request pages, as `user list` and `audit` do,
so every device is listed (issue "Hardening", point 6)."""

import json

import mss_harness as h
from test_device import remembered_login

PER_ROW = 16            # MSS_IMPORT_ROW_DEVICES
DEVICES = 3000


def _fill(env, user, n):
    """n remembered devices for user, through `mfadctl import` (one row a
    file, at most 16 devices a row); returns their rhosts."""
    hosts = ["10.%d.%d.%d" % (i >> 16, (i >> 8) & 255, i & 255)
             for i in range(1, n + 1)]
    for i in range(0, n, PER_ROW):
        chunk = hosts[i:i + PER_ROW]
        row = "%s,%s@example.org,,,%s\n" % (
            user, user, ",".join("rhost:" + x for x in chunk))
        rc, out, err = env.ctl("--json", "import", "-", input=row)
        assert rc == h.CTL_OK, (out, err)
        assert ("%d device" % len(chunk)) in out, out
    return hosts


def test_device_list_pages_past_one_frame(env):
    """3,000 devices (about three frames' worth): the JSON list and the
    table both hold each device once; mfad logs no malformed request."""
    _fill(env, "alice", DEVICES)
    rc, out, err = env.ctl("--json", "device", "list", "alice")
    assert rc == h.CTL_OK, err
    devices = json.loads(out)
    assert len(devices) == DEVICES
    ids = [d["id"] for d in devices]
    assert len(set(ids)) == DEVICES, "a device listed twice"
    assert all(d["kind"] == "rhost" for d in devices)
    rc, out, err = env.ctl("device", "list", "alice")
    assert rc == h.CTL_OK, err
    lines = out.splitlines()
    assert lines[0].split()[0] == "ID" and len(lines) == DEVICES + 1
    assert sorted(x.split()[0] for x in lines[1:]) == sorted(ids)
    log = env.mfad.log_text()
    assert "malformed" not in log.lower(), log[-2000:]
    # The listed devices are the real ones: one of the last added still
    # skips the code, and revoking one by its listed id leaves the rest.
    remembered_login(env, rhost="10.0.11.184")
    env.ctl_ok("device", "revoke", "alice", ids[DEVICES // 2])
    assert len(env.ctl_json("device", "list", "alice")) == DEVICES - 1


