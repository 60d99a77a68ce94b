"""The fleet harness itself: a port taken between its choice and slapd's
bind (another program may take a free port meanwhile) makes the fleet
start again on four new ones, where replication works; a start that
fails for another reason is not tried again."""

import socket

import pytest

import fleet_harness as h


def test_start_again_on_a_port_taken_meanwhile():
    f = h.Fleet()
    taken = socket.socket()
    try:
        taken.bind(("127.0.0.1", f.b.sport))
        taken.listen(1)
        before = [(n.port, n.sport) for n in f.nodes]
        f.start()
        after = [(n.port, n.sport) for n in f.nodes]
        assert after != before
        assert f.b.sport != taken.getsockname()[1]
        assert all(n.running for n in f.nodes)
        assert all(n.url == h.node_url(n.port) and
                   n.ldaps_url == h.node_url(n.sport, "ldaps") and
                   n.url in f.b.conf.read_text() for n in f.nodes)
        c = f.conn(f.a)
        dn, oc, attrs = h.person("carol")
        assert c.add(dn, oc, attrs), c.result
        c.unbind()
        f.wait_replicated(dn)
    finally:
        taken.close()
        f.close()


def test_other_start_failure_raises_at_once():
    f = h.Fleet()
    try:
        before = [(n.port, n.sport) for n in f.nodes]
        f.b.conf.write_text("no such directive\n")
        with pytest.raises(AssertionError, match="slapd exited"):
            f.start()
        assert [(n.port, n.sport) for n in f.nodes] == before
        assert not any(n.running for n in f.nodes)
    finally:
        f.close()
