"""`mfadctl import` into the directory while the host's own provider
stops: the second provider takes the rest (test_import_dir.py)."""

import pytest

from hosts_harness import mh
from test_import_dir import (add_many, import_rows, stop_when_written,
                             wait_accounts)


@pytest.mark.slow
def test_own_provider_stopped_mid_import_the_other_takes_over(hosts):
    """Host A's own provider stops while an import writes: the writes
    without an answer go again through the second provider, and every
    row is reported added and is an account on B."""
    uids = ["over%04d" % i for i in range(450)]
    add_many(hosts.fleet, uids)
    t = stop_when_written(hosts.fleet, hosts.fleet.a, "over",
                          hosts.fleet.a.stop)
    rc, rows, err = import_rows(hosts.a, "".join(
        "%s,%s@example.org,en\n" % (u, u) for u in uids))
    t.join()
    assert hosts.fleet.a.proc is None, "the provider was not stopped"
    assert rc == mh.CTL_OK, (rc, str(rows)[:300], err)
    assert [r.get("result") for r in rows] == ["added"] * len(uids)
    # What A took before it stopped reaches B once A is back.
    hosts.fleet.a.start()
    assert wait_accounts(hosts.fleet, hosts.fleet.b, "over", uids) == uids
