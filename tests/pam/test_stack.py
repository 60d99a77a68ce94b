"""PAM conventions: use_first_pass and try_first_pass after pam_unix,
required / requisite / [success=done default=die] stacks, pam_fail_delay,
no descriptor left open after pam_end, and every result documented in
pam_mss(8) (DESIGN.md section 4, man/pam_mss.8 PAM RETURN CODES).

Two handles in two threads of one process:
test_login.py::test_two_handles_in_one_process_at_once.

pam_driver options used here (see its header comment): -d reports the
PAM_FAIL_DELAY call as "DELAY <retval> <usec>" instead of sleeping, -F
reports "FDS <before> <after>" (and "FDNEW <fd> <target>") around each
transaction.
"""

import ast
import pwd
import re
import subprocess

import pytest

import mss_harness as h
from mss_harness import (PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL, PAM_CONV_ERR,
                         PAM_IGNORE, PAM_MAXTRIES, PAM_SUCCESS,
                         PAM_USER_UNKNOWN, PROMPT_CODE, PROMPT_EMAIL,
                         PROMPT_PASSWORD)

ALICE = "alice@example.org"
UNIX_USER = "mssstack"
UNIX_ADDR = "mssstack@example.org"
NEW_PASSWORD = "a brand new password for alice"
PAM_SERVICE_ERR = 3
PAM_MODULE_UNKNOWN = 28
PAM_TYPES_H = "/usr/include/security/_pam_types.h"
MAN_PAGE = h.SRC_ROOT / "man" / "pam_mss.8"

# pam_mss asks for this much delay on failure (pam_mss.c).
MSS_DELAY = 2000000

# Results of pam_authenticate that pam_mss itself decided, in any test of
# this file: code -> the first test that saw it. Checked against the man
# page by the last test.
SEEN = {}


def seen(rc, where):
    SEEN.setdefault(rc, where)
    return rc


# --------------------------------------------------------------------------
# Stacks and transcripts


def mss_line(env, control="required", args=()):
    """An auth line for pam_mss.so, by absolute path."""
    return "auth %s %s socket=%s lang=en tries=3 %s" % (
        control, h.PAM_MSS, env.sock, " ".join(args))


def write_stack(env, name, lines):
    (env.pamd / name).write_text("\n".join(lines) + "\n")
    return name


def probe(env, args=(), name="mss-probe"):
    """A stack whose result tells what pam_mss returned (see mss_result):
    success ends it, a failure ends it with pam_mss's code, and
    PAM_IGNORE (which Linux-PAM never returns from pam_authenticate)
    goes on to pam_debug, which answers PAM_MODULE_UNKNOWN."""
    return write_stack(env, name, [
        mss_line(env, "[success=done ignore=ignore default=die]", args),
        "auth required pam_debug.so auth=module_unknown",
    ])


def mss_result(rc):
    """pam_mss's own result, from the result of a probe() stack."""
    return PAM_IGNORE if rc == PAM_MODULE_UNKNOWN else rc


def drive(env, user="alice", service="mss-probe", extra=(), **kw):
    """pam_driver with -d (report the fail delay, never sleep) and -F
    (count descriptors)."""
    return env.login(user, service=service,
                     extra_args=["-d", "-F"] + list(extra), **kw)


def finish(login):
    """Ends input, waits for pam_driver to exit and returns every line it
    printed (the DELAY and FDS lines come after RESULT)."""
    try:
        login.proc.stdin.close()
    except OSError:
        pass
    login.proc.wait(h.TIMEOUT)
    while True:
        try:
            login.next(timeout=h.TIMEOUT)
        except AssertionError:
            break
    assert login.proc.returncode == 0, login.dump()
    return login.transcript


def tagged(login, tag):
    """The fields of every line with this tag, as lists of strings."""
    return [line.split(" ")[1:] for line in login.transcript
            if line.split(" ", 1)[0] == tag]


def delays(login):
    return [(int(a), int(b)) for a, b in tagged(login, "DELAY")]


def assert_no_fd_left(login, transactions=1):
    fds = [(int(a), int(b)) for a, b in tagged(login, "FDS")]
    assert len(fds) == transactions, login.dump()
    for before, after in fds:
        assert after == before, "descriptors left open after pam_end\n" + \
            login.dump()
    assert fds[0][0] == fds[-1][1], login.dump()
    assert not tagged(login, "FDNEW"), login.dump()


def assert_fail_delay(login, rc):
    """Linux-PAM calls the application's PAM_FAIL_DELAY function once per
    pam_authenticate, with its status and the largest delay a module
    asked for, randomised by up to +/- 50% (libpam/pam_delay.c). A
    request of 2 s therefore arrives as 1 s to 3 s; without a request it
    arrives as 0."""
    assert delays(login) == [(rc, delays(login)[0][1])], login.dump()
    usec = delays(login)[0][1]
    if rc != PAM_SUCCESS:
        assert MSS_DELAY // 2 <= usec < MSS_DELAY * 3 // 2, login.dump()


def prompts(login):
    return login.lines("ECHO_ON", "ECHO_OFF")


def full_login(env, login, addr=ALICE, password=h.PASSWORD):
    """Email, password, code; returns the result."""
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(addr)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(password)
    login.expect("INFO", h.mask_email(addr))
    login.expect("ECHO_ON", PROMPT_CODE)
    login.answer(env.smtp.wait_for_code(addr))
    return login.result()


def wrong_password(env, login, addr=ALICE):
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(addr)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(h.WRONG_PASSWORD)
    login.expect("ERROR", h.GENERIC_FAILURE)
    return login.result()


# --------------------------------------------------------------------------
# 1. use_first_pass / try_first_pass after pam_unix


def _userdel(name):
    subprocess.run(["userdel", "-r", "-f", name], capture_output=True)


@pytest.fixture
def unix_user():
    if h.SANITIZED:
        pytest.skip("pam_unix cannot run in a process built with ASan")
    yield from _unix_user()


def _unix_user():
    """A real system user whose password is h.PASSWORD; removed at the end
    (a leftover from an interrupted run is removed first)."""
    try:
        pwd.getpwnam(UNIX_USER)
        _userdel(UNIX_USER)
    except KeyError:
        pass
    subprocess.run(["useradd", "-m", UNIX_USER], check=True,
                   capture_output=True)
    try:
        subprocess.run(["chpasswd"], input="%s:%s\n" % (UNIX_USER,
                                                        h.PASSWORD),
                       text=True, check=True, capture_output=True)
        yield UNIX_USER
    finally:
        _userdel(UNIX_USER)


def unix_stack(env, option, name="unix-first"):
    return write_stack(env, name, [
        "auth required pam_unix.so",
        mss_line(env, "required", [option]),
    ])


@pytest.mark.parametrize("option", ["use_first_pass", "try_first_pass"])
def test_first_pass_after_pam_unix_one_password_prompt(make_env, unix_user,
                                                       option):
    """DESIGN 4: after pam_unix, pam_mss takes the password pam_unix
    stored (PAM_AUTHTOK): pam_unix's "Password: " is the only password
    prompt, then the email and the code, and the login succeeds."""
    env = make_env()
    env.add_user(unix_user, UNIX_ADDR)
    login = drive(env, unix_user, unix_stack(env, option))
    login.expect("ECHO_OFF", "Password: ")
    login.answer(h.PASSWORD)
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(UNIX_ADDR)
    login.expect("INFO", h.mask_email(UNIX_ADDR))
    login.expect("ECHO_ON", PROMPT_CODE)
    login.answer(env.smtp.wait_for_code(UNIX_ADDR))
    assert seen(login.result(), option) == PAM_SUCCESS, login.dump()
    assert prompts(login) == [("ECHO_OFF", "Password: "),
                              ("ECHO_ON", PROMPT_EMAIL),
                              ("ECHO_ON", PROMPT_CODE)], login.dump()
    finish(login)
    assert_fail_delay(login, PAM_SUCCESS)
    assert_no_fd_left(login)


@pytest.mark.parametrize("option", ["use_first_pass", "try_first_pass"])
def test_first_pass_after_pam_unix_wrong_password(make_env, unix_user,
                                                  option):
    """A wrong system password: pam_unix fails, pam_mss gets the same
    wrong password, refuses it without asking again, and no mail
    leaves."""
    env = make_env()
    env.add_user(unix_user, UNIX_ADDR)
    login = drive(env, unix_user, unix_stack(env, option))
    login.expect("ECHO_OFF", "Password: ")
    login.answer(h.WRONG_PASSWORD)
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(UNIX_ADDR)
    login.expect("ERROR", h.GENERIC_FAILURE)
    assert login.result() == PAM_AUTH_ERR, login.dump()
    assert [p for p in prompts(login) if p[0] == "ECHO_OFF"] == \
        [("ECHO_OFF", "Password: ")], login.dump()
    finish(login)
    assert_fail_delay(login, PAM_AUTH_ERR)
    assert_no_fd_left(login)
    env.smtp.assert_no_mail(UNIX_ADDR)


def test_try_first_pass_alone_prompts(env):
    """try_first_pass with nothing stored before: pam_mss asks for the
    password itself."""
    login = drive(env, service=probe(env, ["try_first_pass"]))
    assert seen(mss_result(full_login(env, login)),
                "try_first_pass alone") == PAM_SUCCESS, login.dump()
    assert prompts(login) == [("ECHO_ON", PROMPT_EMAIL),
                              ("ECHO_OFF", PROMPT_PASSWORD),
                              ("ECHO_ON", PROMPT_CODE)], login.dump()


def test_use_first_pass_alone_fails_without_password_prompt(env):
    """use_first_pass with nothing stored before: PAM_AUTH_ERR without
    any prompt, and no mail (pam_mss(8) OPTIONS)."""
    login = drive(env, service=probe(env, ["use_first_pass"]))
    rc = login.run({PROMPT_EMAIL: ALICE})
    assert seen(mss_result(rc), "use_first_pass alone") == PAM_AUTH_ERR, \
        login.dump()
    assert not prompts(login), login.dump()
    finish(login)
    assert_fail_delay(login, PAM_AUTH_ERR)
    assert_no_fd_left(login)
    env.smtp.assert_no_mail(ALICE)


# --------------------------------------------------------------------------
# 2. Stacks

MARK = "after-pam-mss"

CONTROLS = {
    "required": "required",
    "requisite": "requisite",
    "done-die": "[success=done default=die]",
}


def expected(control, after, mss_rc):
    """(final result, whether the module after pam_mss runs), as
    pam.conf(5) defines the controls; pam_deny returns PAM_AUTH_ERR."""
    if control == "done-die":
        return mss_rc, False
    if control == "requisite" and mss_rc != PAM_SUCCESS:
        return mss_rc, False
    if mss_rc != PAM_SUCCESS:
        return mss_rc, True
    return (PAM_SUCCESS if after == "permit" else PAM_AUTH_ERR), True


@pytest.mark.parametrize("outcome", ["success", "wrong-password",
                                     "mfad-down"])
@pytest.mark.parametrize("after", ["permit", "deny"])
@pytest.mark.parametrize("control", list(CONTROLS))
def test_stack_control(env, control, after, outcome):
    """pam_mss first, then pam_echo (a marker that shows whether the
    stack went on) and pam_permit or pam_deny: the final result is the
    one pam.conf(5) gives for pam_mss's result under that control."""
    name = write_stack(env, "stack", [
        mss_line(env, CONTROLS[control]),
        "auth optional pam_echo.so %s" % MARK,
        "auth required pam_%s.so" % after,
    ])
    login = drive(env, service=name)
    if outcome == "success":
        mss_rc = PAM_SUCCESS
        rc = full_login(env, login)
    elif outcome == "wrong-password":
        mss_rc = PAM_AUTH_ERR
        rc = wrong_password(env, login)
    else:
        mss_rc = PAM_AUTHINFO_UNAVAIL
        env.mfad.stop()
        rc = login.run({PROMPT_EMAIL: ALICE, PROMPT_PASSWORD: h.PASSWORD})
    want, reached = expected(control, after, mss_rc)
    assert rc == want, login.dump()
    if rc == mss_rc:
        seen(rc, "stack %s %s %s" % (control, after, outcome))
    marks = [t for s, t in login.lines("INFO") if MARK in t]
    assert bool(marks) == reached, login.dump()
    finish(login)
    assert_fail_delay(login, rc)
    assert_no_fd_left(login)


@pytest.mark.parametrize("after,want", [("permit", PAM_SUCCESS),
                                        ("deny", PAM_AUTH_ERR)])
def test_stack_failmode_safe_lets_the_others_decide(env, after, want):
    """failmode=safe, mfad down, pam_mss required: PAM_IGNORE, so the
    modules after it decide alone (pam_mss(8) OPTIONS)."""
    name = write_stack(env, "stack", [
        mss_line(env, "required", ["failmode=safe"]),
        "auth optional pam_echo.so %s" % MARK,
        "auth required pam_%s.so" % after,
    ])
    env.mfad.stop()
    login = drive(env, service=name)
    rc = login.run({PROMPT_EMAIL: ALICE, PROMPT_PASSWORD: h.PASSWORD})
    assert rc == want, login.dump()
    assert any(MARK in t for _, t in login.lines("INFO")), login.dump()
    finish(login)
    assert_no_fd_left(login)


# --------------------------------------------------------------------------
# 3, 4 and 6. Every path: its code, the fail delay, no descriptor left


def _path_success(env, login):
    return full_login(env, login)


def _path_wrong_password(env, login):
    return wrong_password(env, login)


def _path_unknown_email(env, login):
    return wrong_password(env, login, "nobody@example.org")


def _path_wrong_codes(env, login):
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(ALICE)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer(h.PASSWORD)
    login.expect("INFO", h.mask_email(ALICE))
    code = env.smtp.wait_for_code(ALICE)
    for _ in range(3):
        login.expect("ECHO_ON", PROMPT_CODE)
        login.answer(h.wrong_code(code))
        login.expect("ERROR")
    return login.result()


def _path_conversation_fails(env, login):
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.proc.stdin.close()
    return login.result()


def _path_reset(env, login):
    login.expect("ECHO_ON", PROMPT_EMAIL)
    login.answer(ALICE)
    login.expect("ECHO_OFF", PROMPT_PASSWORD)
    login.answer("")
    while login.next()[0] != "ECHO_ON":
        pass
    login.answer(env.smtp.wait_for_code(ALICE))
    return login.run({"ew password": NEW_PASSWORD,
                      "new password": NEW_PASSWORD})


def _path_any(env, login):
    return login.run({PROMPT_EMAIL: ALICE, PROMPT_PASSWORD: h.PASSWORD},
                     default="123456")


PATHS = [
    # id, module arguments, user, what to do, expected code
    ("success", [], "alice", _path_success, PAM_SUCCESS),
    ("wrong-password", [], "alice", _path_wrong_password, PAM_AUTH_ERR),
    ("unknown-email", [], "alice", _path_unknown_email, PAM_AUTH_ERR),
    ("wrong-codes", [], "alice", _path_wrong_codes, PAM_MAXTRIES),
    ("reset-done", [], "alice", _path_reset, PAM_AUTH_ERR),
    ("use-first-pass-empty", ["use_first_pass"], "alice", _path_any,
     PAM_AUTH_ERR),
    ("conversation-fails", [], "alice", _path_conversation_fails,
     PAM_CONV_ERR),
    ("empty-user", [], "", _path_any, PAM_USER_UNKNOWN),
    ("bad-argument", ["no_such_option"], "alice", _path_any,
     PAM_SERVICE_ERR),
    ("mfad-down-secure", ["failmode=secure"], "alice", _path_any,
     PAM_AUTHINFO_UNAVAIL),
    ("mfad-down-safe", ["failmode=safe"], "alice", _path_any, PAM_IGNORE),
    ("mfad-garbage", [], "alice", _path_any, PAM_AUTHINFO_UNAVAIL),
]


@pytest.mark.parametrize("name,args,user,path,want",
                         PATHS, ids=[p[0] for p in PATHS])
def test_path_code_delay_and_descriptors(env, name, args, user, path, want):
    """Each path returns its code from pam_mss(8) PAM RETURN CODES; a
    failure asks for the 2 s fail delay (reported by the application's
    PAM_FAIL_DELAY function, not slept); and pam_end leaves exactly the
    descriptors that were open before pam_start."""
    fake = None
    if name.startswith("mfad-down"):
        env.mfad.stop()
    elif name == "mfad-garbage":
        env.mfad.stop()
        fake = h.FakeMfad(env.sock, h.frame(h.REP_RESULT, version=9))
    try:
        login = drive(env, user, probe(env, args))
        rc = path(env, login)
        finish(login)
    finally:
        if fake is not None:
            fake.close()
    assert seen(mss_result(rc), name) == want, login.dump()
    assert mss_result(rc) in documented_auth_codes(), login.dump()
    assert_fail_delay(login, rc)
    assert_no_fd_left(login)
    if name in ("wrong-password", "unknown-email", "use-first-pass-empty"):
        env.smtp.assert_no_mail(match=h.has_code, wait=0.5)


def test_no_descriptor_left_after_repeated_transactions(env):
    """-n 20: twenty transactions in one process, successes and failures
    in turn; the count of open descriptors never moves."""
    n = 20
    login = drive(env, service=probe(env), extra=["-n", str(n)])
    for i in range(n):
        login.results.clear()
        if i % 2 == 0:
            rc = full_login(env, login)
            assert rc == PAM_SUCCESS, login.dump()
        else:
            rc = wrong_password(env, login)
            assert rc == PAM_AUTH_ERR, login.dump()
        login.expect("FDS")
    finish(login)
    assert_no_fd_left(login, n)
    ds = delays(login)
    assert [d[0] for d in ds] == [PAM_SUCCESS, PAM_AUTH_ERR] * (n // 2), \
        login.dump()
    for status, usec in ds:
        if status != PAM_SUCCESS:
            assert MSS_DELAY // 2 <= usec < MSS_DELAY * 3 // 2, login.dump()


def test_descriptor_check_sees_a_leak(env):
    """The count is not blinded by the syslog connection: pam_driver opens
    it before its baseline, as sshd and login do, so on a machine with a
    syslog daemon on /dev/log it is in both counts (and pam_mss's log line
    of this failure goes through it), while a descriptor left open inside
    the transaction (-L: /dev/null) moves the count, is the one FDNEW line
    and fails assert_no_fd_left."""
    login = drive(env, service=probe(env), extra=["-L"])
    assert wrong_password(env, login) == PAM_AUTH_ERR, login.dump()
    finish(login)
    (before, after), = [(int(a), int(b)) for a, b in tagged(login, "FDS")]
    assert after == before + 1, login.dump()
    new = tagged(login, "FDNEW")
    assert len(new) == 1 and new[0][1:] == ["/dev/null"], login.dump()
    with pytest.raises(AssertionError, match="descriptors left open"):
        assert_no_fd_left(login)


# --------------------------------------------------------------------------
# 6. Every code seen is documented


def pam_code_numbers():
    """PAM_* name -> number, from Linux-PAM's header."""
    out = {}
    with open(PAM_TYPES_H) as f:
        for line in f:
            m = re.match(r"#define\s+(PAM_[A-Z_]+)\s+(\d+)\b", line)
            if m:
                out.setdefault(m.group(1), int(m.group(2)))
    return out


def documented_auth_codes():
    """The codes listed under PAM RETURN CODES, auth, in pam_mss(8):
    ".It Dv PAM_X" (or "PAM_X , PAM_Y") lines."""
    text = MAN_PAGE.read_text()
    section = text.split(".Sh PAM RETURN CODES", 1)[1].split("\n.Sh ", 1)[0]
    auth = section.split(".Ss auth", 1)[1].split("\n.Ss ", 1)[0]
    numbers = pam_code_numbers()
    codes = set()
    for line in auth.splitlines():
        if line.startswith(".It Dv "):
            for name in re.findall(r"\bPAM_[A-Z_]+\b", line):
                codes.add(numbers[name])
    assert PAM_SUCCESS in codes and PAM_AUTH_ERR in codes, auth
    return codes


def test_every_code_seen_is_documented():
    """Every result pam_mss gave in this file is listed in pam_mss(8)
    (runs last; alone, it has nothing to check)."""
    if not SEEN:
        pytest.skip("no transaction ran before this test")
    documented = documented_auth_codes()
    undocumented = {rc: where for rc, where in SEEN.items()
                    if rc not in documented}
    assert not undocumented, "results not in pam_mss(8): %r" % undocumented
    # The paths above reach most of the list.
    assert len(SEEN) >= 8, SEEN


# --------------------------------------------------------------------------
# The module stays loaded (-z nodelete, pam_mss(8))

STAY_LOADED = r"""
import ctypes, sys
pam = ctypes.CDLL("libpam.so.0")


class Conv(ctypes.Structure):
    _fields_ = [("conv", ctypes.c_void_p), ("appdata", ctypes.c_void_p)]


def maps(name):
    with open("/proc/self/maps") as f:
        return sorted(l.split()[0] for l in f if l.rstrip().endswith(name))


conv = Conv(None, None)
seen = []
for _ in range(2):
    h = ctypes.c_void_p()
    rc = pam.pam_start_confdir(sys.argv[2].encode(), b"alice",
                               ctypes.byref(conv), sys.argv[1].encode(),
                               ctypes.byref(h))
    assert rc == 0, rc
    loaded = maps("/pam_mss.so"), maps("/pam_permit.so")
    pam.pam_end(h, 0)
    seen.append((loaded, maps("/pam_mss.so"), maps("/pam_permit.so")))
print(repr(seen))
"""


def test_module_stays_loaded_after_pam_end(env):
    """pam_start loads pam_mss and pam_permit; pam_end unloads
    pam_permit but not pam_mss, and the next pam_start finds pam_mss
    where it was instead of mapping it again."""
    if h.SANITIZED:
        pytest.skip("a Python process cannot load the sanitized module")
    name = write_stack(env, "mss-resident", [
        mss_line(env), "auth required pam_permit.so"])
    r = subprocess.run(["/usr/bin/python3", "-c", STAY_LOADED,
                        str(env.pamd), name], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    seen = ast.literal_eval(r.stdout)
    (mss_in, permit_in), mss_after, permit_after = seen[0]
    assert mss_in and permit_in, seen
    assert mss_after == mss_in, "pam_end unloaded pam_mss"
    assert permit_after == [], "pam_permit should be unloaded: %r" % (
        seen,)
    # The second transaction: the same mappings, none added.
    (mss_in2, permit_in2), mss_after2, _ = seen[1]
    assert mss_in2 == mss_in and mss_after2 == mss_in
    assert permit_in2
