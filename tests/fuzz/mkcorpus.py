#!/usr/bin/python3
"""Writes the seed corpora of the fuzzers into tests/fuzz/corpus/NAME/:
real frames of every request type from each caller role, real replies,
the sample mfad.conf, the mail templates with values, CSV files and
pam.d argument lists. Run it after a protocol change; the files are
committed. A regression input found by a fuzzer is committed in the
same directory under a name saying what it was (regress-*)."""
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "corpus")

ADMIN, PAM, SELF, OTHER = 0, 1, 2, 3

(STATUS, AUTH_START, CODE, RESEND, REMEMBER, ACCT, RESET_START,
 SET_PASSWORD, CHANGE_PASSWORD) = 1, 2, 3, 4, 5, 6, 8, 9, 10
(USER_ADD, USER_DEL, USER_SHOW, USER_LIST, USER_LOCK, USER_UNLOCK,
 USER_REENROLL, DEVICE_LIST, DEVICE_REVOKE, MAIL_TEST, AUDIT, BACKUP,
 USER_IMPORT) = range(20, 33)
USER_SET = 40
METRICS = 41
USER_RECOVERY = 42
USER_DISABLE, USER_ENABLE = 43, 44
REP_RESULT, REP_AUTH, REP_CODE, REP_ACCT = 100, 101, 102, 103

PASSWORD = "correct horse battery staple"
TOKEN = "ab" * 32


def s(v):
    b = v.encode() if isinstance(v, str) else v
    return struct.pack(">I", len(b)) + b


def u8(v):
    return struct.pack(">B", v)


def u32(v):
    return struct.pack(">I", v)


def u64(v):
    return struct.pack(">Q", v)


def frame(rtype, payload):
    return struct.pack(">IBB", len(payload) + 2, 1, rtype) + payload


def req(role, rtype, payload):
    return u8(role) + frame(rtype, payload)


def write(name, fname, data):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, fname), "wb") as f:
        f.write(data)


def auth_start(user, email, pw, lang="en", flags=0):
    return (s("sshd") + s(user) + s(email) + s(pw) + s("rhost:192.0.2.7")
            + s("192.0.2.7") + s("/dev/pts/1") + s(lang) + u32(flags))


def reset_start(user, email, flags=0):
    return (s("sshd") + s(user) + s(email) + s("tty:/dev/pts/1") + s("")
            + s("/dev/pts/1") + s("fr") + u32(flags))


def import_rows(rows):
    p = u32(len(rows))
    for i, (user, email, lang, h, devs) in enumerate(rows):
        p += u32(i + 1) + s(user) + s(email) + s(lang) + s(h)
        p += u32(len(devs)) + b"".join(s(d) for d in devs)
    return p


HASH = ("$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$"
        "ZmFrZWhhc2hmYWtlaGFzaGZha2VoYXNoZmFrZWhhc2g")

# One request of each type with a valid payload, each from every role.
REQUESTS = {
    "status": (STATUS, b""),
    "metrics": (METRICS, b""),
    "auth_start": (AUTH_START, auth_start("alice", "alice@example.org",
                                          PASSWORD)),
    "auth_start_wrong": (AUTH_START, auth_start("alice", "alice@example.org",
                                                "wrong password here")),
    "auth_start_invited": (AUTH_START, auth_start("bob", "bob@example.org",
                                                  "", "fr", 1)),
    "auth_start_locked": (AUTH_START, auth_start("carol",
                                                 "carol@example.org",
                                                 PASSWORD)),
    "code": (CODE, s(TOKEN) + s("123456")),
    "code_recovery": (CODE, s(TOKEN) + s("K7MQ-x3tf 9wna")),
    "resend": (RESEND, s(TOKEN)),
    "remember": (REMEMBER, s(TOKEN)),
    "acct": (ACCT, s("sshd") + s("alice")),
    "acct_locked": (ACCT, s("sshd") + s("carol")),
    "reset_start": (RESET_START, reset_start("alice", "alice@example.org")),
    "reset_start_decoy": (RESET_START, reset_start("alice",
                                                   "eve@example.org")),
    "set_password": (SET_PASSWORD, s(TOKEN) + s("a new long password")),
    "change_password": (CHANGE_PASSWORD, s("passwd") + s("alice")
                        + s(PASSWORD) + s("another long password")),
    "user_add": (USER_ADD, s("dave") + s("dave@example.org") + s("fr")
                 + s("a long enough password")),
    "user_add_invite": (USER_ADD, s("erin") + s("erin@example.org") + s("")
                        + s("")),
    "user_set": (USER_SET, s("alice") + s("alice@example.net") + s("fr")),
    "user_del": (USER_DEL, s("bob")),
    "user_show": (USER_SHOW, s("alice")),
    "user_list": (USER_LIST, s("")),
    "user_list_after": (USER_LIST, s("alice")),
    "user_lock": (USER_LOCK, s("alice")),
    "user_unlock": (USER_UNLOCK, s("carol")),
    "user_reenroll": (USER_REENROLL, s("alice")),
    "user_disable": (USER_DISABLE, s("alice")),
    "user_enable": (USER_ENABLE, s("alice")),
    "user_recovery": (USER_RECOVERY, s("alice") + u32(10)),
    "user_recovery_revoke": (USER_RECOVERY, s("alice") + u32(0)),
    "user_recovery_too_many": (USER_RECOVERY, s("alice") + u32(101)),
    "device_list": (DEVICE_LIST, s("alice")),
    "device_revoke": (DEVICE_REVOKE, s("alice") + s("")),
    "mail_test": (MAIL_TEST, s("alice@example.org")),
    "audit": (AUDIT, s("") + u64(0) + u64(0) + u32(0)),
    "audit_user": (AUDIT, s("alice") + u64(1) + u64(0) + u32(10)),
    "backup": (BACKUP, s("/var/backups/mfad")),
    "import": (USER_IMPORT, import_rows([
        ("frank", "frank@example.org", "en", HASH, ["rhost:192.0.2.9"]),
        ("grace", "grace@example.org", "fr", "", []),
        ("alice", "alice@example.org", "", "", ["tty:/dev/pts/2",
                                                 "sshkey:ssh-ed25519 AAAA"]),
    ])),
}


def dispatch():
    roles = {ADMIN: "admin", PAM: "pam", SELF: "self", OTHER: "other"}
    for name, (t, p) in REQUESTS.items():
        for role, rname in roles.items():
            write("fuzz_dispatch", "%s-%s" % (name, rname), req(role, t, p))
    # Conversations: what a login, a reset and an admin session send.
    write("fuzz_dispatch", "conv-login", req(PAM, *REQUESTS["auth_start"])
          + req(PAM, *REQUESTS["code"]) + req(PAM, *REQUESTS["resend"])
          + req(PAM, *REQUESTS["remember"]) + req(PAM, *REQUESTS["acct"]))
    write("fuzz_dispatch", "conv-reset", req(SELF, *REQUESTS["reset_start"])
          + req(SELF, *REQUESTS["code"])
          + req(SELF, *REQUESTS["set_password"]))
    write("fuzz_dispatch", "conv-admin", req(ADMIN, *REQUESTS["user_add"])
          + req(ADMIN, USER_SHOW, s("dave"))
          + req(ADMIN, *REQUESTS["user_lock"])
          + req(ADMIN, *REQUESTS["user_list"])
          + req(ADMIN, DEVICE_LIST, s("alice"))
          + req(ADMIN, *REQUESTS["audit"]))
    write("fuzz_dispatch", "conv-denied", req(OTHER, *REQUESTS["user_list"])
          + req(OTHER, *REQUESTS["user_del"])
          + req(SELF, *REQUESTS["audit"]))
    write("fuzz_dispatch", "bad-version",
          u8(0) + struct.pack(">IBB", 2, 2, STATUS))
    write("fuzz_dispatch", "unknown-type", req(ADMIN, 99, b""))
    write("fuzz_dispatch", "empty-user", req(ADMIN, USER_SHOW, s("")))


def frames():
    write("fuzz_frame", "auth_start", frame(*REQUESTS["auth_start"]))
    write("fuzz_frame", "two-frames", frame(STATUS, b"")
          + frame(*REQUESTS["code"]))
    write("fuzz_frame", "result", frame(REP_RESULT, u32(9) + s("denied")))
    write("fuzz_frame", "import", frame(*REQUESTS["import"]))
    write("fuzz_frame", "bad-version", struct.pack(">IBB", 2, 7, STATUS))
    write("fuzz_frame", "too-big", struct.pack(">IBB", 0x10003, 1, STATUS))
    write("fuzz_frame", "short", frame(STATUS, b"abcdef")[:8])
    # A payload that reads as a program of fields (see fuzz_frame.c).
    write("fuzz_frame", "fields", frame(REP_AUTH, bytes([3, 0, 0, 0, 3])
                                        + b"abc" + bytes([1, 2, 4])))


def replies():
    auth = (u8(1) + s(TOKEN) + s("alic*****@example*****") + u32(5)
            + u8(0) + u32(0) + s("fr"))
    write("fuzz_pam_reply", "auth", u8(0) + auth)
    write("fuzz_pam_reply", "auth-held-login", u8(1) + u8(1) + s("")
          + s("alic*****@example*****") + u32(5) + u8(1) + u32(30)
          + s(""))
    # Throttled, with a login for a recovery code.
    write("fuzz_pam_reply", "auth-throttled-recovery", u8(0) + u8(3)
          + s(TOKEN) + s("alic*****@example*****") + u32(5) + u8(1)
          + u32(1800) + s("fr"))
    write("fuzz_pam_reply", "auth-controls", u8(0) + u8(0) + s("")
          + s("\x1b[31mred\x7f") + u32(0) + u8(0) + u32(0)
          + s("\x1b[0mxx"))
    write("fuzz_pam_reply", "code", u8(2) + u8(0) + u32(4) + u8(1)
          + u32(30) + u8(0) + u8(0) + s("en"))
    write("fuzz_pam_reply", "acct", u8(3) + u8(5) + u64(1767225600))
    write("fuzz_pam_reply", "result", u8(4) + u32(9)
          + s("admin command from a non-admin"))
    # SET_PASSWORD and CHANGE_PASSWORD: a refusal by policy (19) ends
    # with its reason (mss_pw_reason); any other code does not.
    # CHANGE_PASSWORD's 0 and 19 then end with the account's language.
    write("fuzz_pam_reply", "password-ok", u8(5) + u32(0)
          + s("password set"))
    write("fuzz_pam_reply", "password-too-short", u8(5) + u32(19)
          + s("too short") + u32(1))
    write("fuzz_pam_reply", "password-same-as-old", u8(5) + u32(19)
          + s("same as the current password") + u32(5))
    write("fuzz_pam_reply", "password-unknown-reason", u8(5) + u32(19)
          + s("") + u32(4096))
    write("fuzz_pam_reply", "password-no-login", u8(5) + u32(7)
          + s("no login may set a password here"))
    write("fuzz_pam_reply", "password-changed-lang", u8(5) + u32(0)
          + s("password changed") + s("fr"))
    write("fuzz_pam_reply", "password-refused-lang", u8(5) + u32(19)
          + s("too short") + u32(1) + s("en"))


def confs():
    with open(os.path.join(SRC, "conf", "mfad.conf"), "rb") as f:
        sample = f.read()
    write("fuzz_conf", "sample", sample)
    # The sample with every documented key set to its default.
    write("fuzz_conf", "sample-uncommented",
          re.sub(rb"(?m)^#([a-z_]+ =)", rb"\1", sample))
    write("fuzz_conf", "every-key", b"""\xef\xbb\xbf# every section
[mfad]
socket = /run/mfad/mfad.sock
database = /var/lib/mfad
map_size = 64M
user = root
admin_group = root
pam_uids = 0
audit_days = 30
[code]
length = 8
ttl = 600
max_attempts = 3
resend_interval = 10
max_sends = 4
[device]
remember_days = 0
[password]
min_length = 10
max_length = 128
strength = moderate
opslimit = 3
memlimit = 64M
[lockout]
threshold = 5
duration = 60
[policy]
reenroll_before = 2026-01-01
[mail]
smtp = [::1]:587
tls = none
from = mfad@example.org
language = fr
max_per_minute = 10
""")
    write("fuzz_conf", "errors", b"[mfad]\nsocket = relative\n")
    write("fuzz_conf", "dup", b"[code]\r\nlength = 6\r\nlength = 7\r\n")


def mail():
    kinds = ["login_code", "enroll_code", "reset_code", "device",
             "password_changed", "locked", "test", "email_changed",
             "code_taken", "throttled", "invite", "enrolled"]
    values = [b"alice@example.org", b"123456", b"alic*****@example*****",
              b"host.example.org", b"sshd", b"192.0.2.7", b"alice"]
    for k, kind in enumerate(kinds):
        for li, lang in enumerate(["en", "fr"]):
            with open(os.path.join(SRC, "conf", "templates", lang,
                                   kind + ".txt"), "rb") as f:
                t = f.read()
            head = bytes([k, li, 0, 5, 0x69, 0x5a, 0x2b, 0x00, 0, 0])
            write("fuzz_mail", "%s-%s" % (kind, lang),
                  head + b"\0".join([t] + values))
    # Values that must never reach a header.
    t = b"Subject: Login on {host} for {user} ({service})\n\nFrom {rhost}.\n"
    head = bytes([0, 0, 0, 5, 0, 0, 0, 0, 0, 0])
    write("fuzz_mail", "inject-user", head + b"\0".join(
        [t, b"alice@example.org", b"1", b"m", b"h", b"s", b"r",
         b"alice\r\nBcc: eve@example.org"]))
    write("fuzz_mail", "inject-to", head + b"\0".join(
        [t, b"alice@example.org\r\nBcc: eve@example.org"]))
    write("fuzz_mail", "long-subject", head + b"\0".join(
        [b"Subject: " + "é".encode() * 60 + b" {user}\n\n.\nFrom x\n",
         b"a@example.org", b"", b"", b"", b"", b"", b"u" * 200]))


def mask():
    for i, e in enumerate([b"alice@example.org", b"al@b.c", b"x@y",
                           "élodie.martin@exemple.fr".encode(),
                           b"@example.org", b"a@", b"a@b@c.d"]):
        write("fuzz_mask", "email-%d" % i, bytes([127]) + e)
    write("fuzz_mask", "small-room", bytes([8]) + b"alice@example.org")


def addr():
    for i, e in enumerate(["melk@exämple.org", "Melk@EXÄMPLE.ORG",
                           "melk@exa\u0308mple.org", "melk@xn--exmple-cua.org",
                           "mélk@exämple.org", "melk@ex☃mple.org",
                           "melk@xn--abc.org", "a@例え。テスト",
                           " melk@exämple.org. ", "b@straße.de"]):
        write("fuzz_addr", "addr-%d" % i, bytes([255]) + e.encode())
    write("fuzz_addr", "small-room", bytes([12]) + b"melk@xn--exmple-cua.org")


def csv():
    write("fuzz_import", "rows", b"""user,email,lang,password_hash,devices
# a comment
alice,alice@example.org,en
bob , bob@example.org , fr
"carol","carol@example.org","","%s","sshkey:ssh-ed25519 AAAAC3Nza","tty:/dev/pts/3"
dave,dave@example.org,,,rhost:192.0.2.4
""" % HASH.encode())
    write("fuzz_import", "bad", b"""\xef\xbb\xbf"unclosed,a@b.c
x,"a""b"@c.d
erin,not-an-address
frank,frank@example.org,de
grace,grace@example.org,en,$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA
""")
    write("fuzz_import", "crlf", b"alice,alice@example.net,fr\r\n"
          b"alice,alice@example.org\r\n")


def pam_opts():
    write("fuzz_pam_opts", "sshd", b"device=sshkey,rhost")
    write("fuzz_pam_opts", "all", b"\0".join([
        b"socket=/run/mfad/mfad.sock", b"failmode=safe", b"device=tty",
        b"email=skip", b"tries=10", b"lang=fr", b"use_first_pass",
        b"try_first_pass", b"noenroll", b"noreset", b"unenrolled=ignore",
        b"debug", b"audit"]))
    write("fuzz_pam_opts", "none", b"device=none\0tries=1\0lang=en")
    write("fuzz_pam_opts", "bad", b"device=tty,tty\0tries=0")


if __name__ == "__main__":
    dispatch()
    frames()
    replies()
    confs()
    mail()
    mask()
    addr()
    csv()
    pam_opts()
    sys.exit(0)
