"""One request lifetime (mfad_ctx.h): a handler's transactions are its
request's, opened with mfad_rq_begin and ended with mfad_rq_end (or
mfad_rq_abort), which end each exactly once and leave rq->txn NULL; the
dispatcher ends whatever a handler left open. Only the store, the
request's own functions, the pool's group commit and the threads that
serve no request (the outbox, the audit summaries) open or end a raw
transaction, and only through mfad_txn_commit(&txn) or
mfad_txn_abort(&txn), which leave the handle NULL. A handler that kept a
raw handle could use it after its end (LMDB frees it on commit) or leave
a child of the group commit open to be committed with the batch.

The account a request works on is the request's too (rq->acct), read
with mfad_rq_acct_load and wiped by the dispatcher's mfad_rq_done: no
handler holds an account of its own that it could forget to wipe."""

import re
from pathlib import Path

MFAD = Path(__file__).resolve().parents[2] / "mfad"

# Who may open or end a raw transaction, and why.
RAW = {
    "mfad_ctx.c",       # mfad_rq_begin/end: the request's lifetime
    "mfad_pool.c",      # the group commit's batch
    "mfad_outbox.c",    # the mail thread: no request
    "mfad_audit.c",     # summaries stored by the sweep: no request
}


def sources():
    return sorted(p for p in MFAD.glob("*.c"))


def code_lines(p):
    for n, line in enumerate(p.read_text().splitlines(), 1):
        yield n, line.split("/*")[0]


def test_handlers_go_through_their_request():
    bad = []
    for p in sources():
        if p.name.startswith("mfad_store") or p.name in RAW:
            continue
        for n, code in code_lines(p):
            if re.search(r"\bmfad_txn_(begin|begin_child|commit|abort)\(",
                         code):
                bad.append("%s:%d: %s" % (p.name, n, code.strip()))
    assert bad == [], "\n".join(bad)


def test_only_the_request_opens_a_child():
    bad = []
    for p in sources():
        if p.name.startswith("mfad_store") or p.name == "mfad_ctx.c":
            continue
        for n, code in code_lines(p):
            if re.search(r"\bmfad_txn_begin_child\(", code):
                bad.append("%s:%d: %s" % (p.name, n, code.strip()))
    assert bad == [], "\n".join(bad)


def test_no_raw_handle_outlives_its_request():
    """Nobody copies rq->txn or rq->batch into a variable of its own, or
    sets them by hand: mfad_rq_begin and mfad_rq_end do."""
    bad = []
    for p in sources():
        if p.name == "mfad_ctx.c":
            continue
        for n, code in code_lines(p):
            if re.search(r"=\s*\w+(->|\.)(txn|batch)\s*;", code) or \
                    re.search(r"\b\w+(->|\.)txn\s*=[^=]", code):
                if p.name == "mfad_dispatch.c" and \
                        re.search(r"\brq\.batch = batch;", code):
                    continue    # the dispatcher hands the batch over
                bad.append("%s:%d: %s" % (p.name, n, code.strip()))
    assert bad == [], "\n".join(bad)


def test_raw_transactions_end_through_the_idiom():
    bad = []
    for p in sources():
        if p.name == "mfad_store.c":
            continue        # the idiom itself and the store's own opening
        for n, code in code_lines(p):
            if re.search(r"\b\w*txn\w* = NULL;", code) and \
                    not re.search(r"struct mfad_txn\s*\*", code):
                bad.append("%s:%d: %s" % (p.name, n, code.strip()))
            if re.search(r"\bmdb_txn_(commit|abort)\(", code):
                bad.append("%s:%d: %s" % (p.name, n, code.strip()))
            if re.search(r"\bmfad_txn_(commit|abort)\((?!&)", code) and \
                    p.name not in ("mfad_ctx.c",):
                bad.append("%s:%d: %s" % (p.name, n, code.strip()))
    assert bad == [], "\n".join(bad)


def test_the_dispatcher_ends_every_request():
    text = (MFAD / "mfad_dispatch.c").read_text()
    run = text[text.index("\nmfad_dispatch_run("):]
    run = run[:run.index("\n}\n")]
    # After the handler, in every case, before the reply is framed.
    assert re.search(r"r = h->fn\(&rq\);\n\tmfad_dispatch_end\(&rq, r\);",
                     run)
    assert run.count("mfad_dispatch_end(&rq, r);") == 2
    end = text[text.index("\nmfad_dispatch_end("):]
    end = end[:end.index("\n}\n")]
    # mfad_rq_done: the transaction left open aborted, the account wiped.
    assert "mfad_rq_done(rq);" in end
    ctx = (MFAD / "mfad_ctx.c").read_text()
    done = ctx[ctx.index("\nmfad_rq_done("):]
    done = done[:done.index("\n}\n")]
    assert "mfad_rq_abort(rq);" in done
    assert "mfad_rq_acct_drop(rq);" in done


def test_the_lifetime_is_in_use():
    text = "".join(p.read_text() for p in sources())
    assert len(re.findall(r"mfad_rq_begin\(rq, [01]\)", text)) > 15
    assert len(re.findall(r"mfad_rq_end\(rq, 1\)", text)) > 10
    assert len(re.findall(r"mfad_rq_abort\(rq\)", text)) > 10
    assert "mfad_store_batch" not in text


# Who may read an account into storage of its own, and why.
OWN_ACCT = {
    "mfad_ctx.c",       # mfad_rq_acct_load: the request's account
    "mfad_import.c",    # one account per row: many, not the request's
    "mfad_outbox.c",    # the mail thread: no request
}


def test_handlers_use_the_requests_account():
    """Outside the store, only the request (and the walks over many
    accounts or none) read an account or hold one on the stack; handlers
    take rq->acct, so none wipes an account itself."""
    bad = []
    for p in sources():
        if p.name.startswith("mfad_store") or p.name in OWN_ACCT:
            continue
        for n, code in code_lines(p):
            if re.search(r"\bmfad_acct_(get|wipe)\(", code) or \
                    re.search(r"\bstruct mfad_acct\s+\w+\s*[;,\[]", code):
                bad.append("%s:%d: %s" % (p.name, n, code.strip()))
    assert bad == [], "\n".join(bad)


def test_the_requests_account_is_in_use():
    text = "".join(p.read_text() for p in sources())
    assert len(re.findall(r"mfad_rq_acct_load\(rq, ", text)) >= 8
    assert len(re.findall(r"= &rq->acct;", text)) >= 12
