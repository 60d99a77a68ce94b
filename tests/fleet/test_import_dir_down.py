"""`mfadctl import` into the directory of a host with one provider, stopped
in the middle of the import (test_import_dir.py)."""

import pytest

import hosts_harness as hh
from hosts_harness import mh
from test_import_dir import (accounts_on, add_many, import_rows,
                             stop_when_written)


@pytest.mark.slow
def test_only_provider_stopped_mid_import_fails_closed(make_hosts, fleet):
    """A host with one provider, stopped while an import writes: mfadctl
    fails as for an unreachable directory (exit 3) and reports no row;
    once the provider is back and replicating, the same file imports
    every row."""
    hs = make_hosts({"directory": {"uri": hh.uri_list((fleet.a,))}})
    uids = ["gone%04d" % i for i in range(450)]
    add_many(hs.fleet, uids)
    text = "".join("%s,%s@example.org,en\n" % (u, u) for u in uids)
    t = stop_when_written(hs.fleet, hs.fleet.a, "gone", hs.fleet.a.stop)
    rc, rows, err = import_rows(hs.a, text)
    t.join()
    assert rc == mh.CTL_UNREACHABLE, (rc, rows, err)
    # The error alone: no row's result.
    assert isinstance(rows, dict) and rows.get("ok") is False, rows
    assert "the directory is unreachable" in err, err
    assert hs.a.mfad.running
    hs.fleet.a.start()
    hs.fleet.wait_in_sync(hs.fleet.a)
    rc, rows, err = import_rows(hs.a, text)
    assert rc == mh.CTL_OK, (rc, str(rows)[:300], err)
    assert {r.get("result") for r in rows} <= {"added", "unchanged"}
    assert accounts_on(hs.fleet, hs.fleet.a, "gone") == uids
