"""Every transaction in mfad ends through one idiom (mfad_store.h):
mfad_txn_commit(&txn) or mfad_txn_abort(&txn), both of which leave the
handle NULL. A handler that assigns `txn = NULL` itself, or calls LMDB's
commit or abort directly, can leave a child of a group commit open (it
is then committed with the batch) or touch a handle that LMDB freed."""

import re
from pathlib import Path

MFAD = Path(__file__).resolve().parents[2] / "mfad"


def sources():
    return sorted(p for p in MFAD.glob("*.c"))


def test_no_handler_ends_a_transaction_by_hand():
    bad = []
    for p in sources():
        if p.name == "mfad_store.c":
            continue        # the idiom itself and the store's own opening
        for n, line in enumerate(p.read_text().splitlines(), 1):
            code = line.split("/*")[0]
            if re.search(r"\b\w*txn\w* = NULL;", code) and \
                    not re.search(r"struct mfad_txn\s*\*", code):
                bad.append("%s:%d: %s" % (p.name, n, line.strip()))
            if re.search(r"\bmdb_txn_(commit|abort)\(", code):
                bad.append("%s:%d: %s" % (p.name, n, line.strip()))
            if re.search(r"\bmfad_txn_(commit|abort)\((?!&|txn\))", code):
                bad.append("%s:%d: %s" % (p.name, n, line.strip()))
    assert bad == [], "\n".join(bad)


def test_the_idiom_is_in_use():
    text = "".join(p.read_text() for p in sources())
    assert len(re.findall(r"mfad_txn_commit\(&", text)) > 10
    assert len(re.findall(r"mfad_txn_abort\(&", text)) > 10
