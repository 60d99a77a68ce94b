"""The same conversation in French and English (DESIGN.md section 3):
lang= wins, then the locale of the PAM environment, then the process;
once mfad has accepted the password (or, for an enrollment or a reset,
the code), the account's language, unless lang= is set."""

import datetime
import re


import pytest

import mss_harness as h
from mss_harness import PAM_AUTH_ERR, PAM_SUCCESS

TEXTS = {
    "en": {
        "email": "Email address: ",
        "password": "Password: ",
        "sent": "A code was sent to",
        "code": "Authentication code: ",
        "wrong": "Wrong code.",
        "remember": "Remember this device for 30 days? [y/N] ",
        "yes": "yes",
        "ok": "Authentication succeeded.",
        "denied": "Invalid email address or password.",
    },
    "fr": {
        "email": "Adresse e-mail : ",
        "password": "Mot de passe : ",
        "sent": "Un code a été envoyé à",
        "code": "Code d'authentification : ",
        "wrong": "Code incorrect.",
        "remember": "Se souvenir de cet appareil pendant 30 jours ? [o/N] ",
        "yes": "Oui",
        "ok": "Authentification réussie.",
        "denied": "Adresse e-mail ou mot de passe incorrect.",
    },
}


def _service(env, lang_arg):
    """A service with lang= only when asked (env.service always adds
    lang=en)."""
    args = "socket=%s tries=3%s" % (env.sock, " lang=%s" % lang_arg
                                     if lang_arg else "")
    (env.pamd / "mss-lang").write_text(
        "auth required %s %s\naccount required %s socket=%s\n" %
        (h.PAM_MSS, args, h.PAM_MSS, env.sock))
    return "mss-lang"


def _full_login(env, service, t, pamenv=(), rhost="192.0.2.90"):
    login = env.login(service=service, pamenv=pamenv, rhost=rhost)
    assert login.expect("ECHO_ON") == t["email"]
    login.answer("alice@example.org")
    assert login.expect("ECHO_OFF") == t["password"]
    login.answer(h.PASSWORD)
    info = login.expect("INFO")
    assert info.startswith(t["sent"]) and "al*****@example*****" in info
    assert login.expect("ECHO_ON") == t["code"]
    code = env.smtp.wait_for_code("alice@example.org")
    login.answer(h.wrong_code(code))
    assert login.expect("ERROR") == t["wrong"]
    assert login.expect("ECHO_ON") == t["code"]
    login.answer(code)
    assert login.expect("ECHO_ON") == t["remember"]
    login.answer(t["yes"])
    assert login.expect("INFO") == t["ok"]
    assert login.result() == PAM_SUCCESS
    return login


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_same_conversation_in_both_languages(env, lang):
    """Every prompt and message of a login, with a wrong code and the
    remember question answered yes in the language's own words."""
    _full_login(env, _service(env, lang), TEXTS[lang])
    assert len(env.ctl_json("device", "list", "alice")) == 1


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_denial_in_both_languages(env, lang):
    login = env.login(service=_service(env, lang))
    rc = login.run({TEXTS[lang]["email"]: "alice@example.org",
                    TEXTS[lang]["password"]: "not the password"})
    assert rc == PAM_AUTH_ERR
    assert ("ERROR", TEXTS[lang]["denied"]) in login.lines("ERROR")


def test_pam_environment_locale_chooses_french(env):
    """Without lang=, LANG in the PAM environment speaks for the user
    (here a French account, so that the whole login is French)."""
    env.ctl_ok("user", "set", "alice", "--lang", "fr")
    _full_login(env, _service(env, None), TEXTS["fr"],
                pamenv=["LANG=fr_FR.UTF-8"])


def test_lang_argument_wins_over_the_environment(env):
    """lang=en wins over a French PAM environment."""
    _full_login(env, _service(env, "en"), TEXTS["en"],
                pamenv=["LC_ALL=fr_FR.UTF-8"])


REQ_AUTH_START = 2
REQ_RESET_START = 8
REP_AUTH = 101


def _auth_start(env, user, addr, password):
    """AUTH_START as the module sends it; returns the AUTH reply's
    payload."""
    payload = b"".join(h.pstr(v) for v in (
        "mss-raw", user, addr, password, "", "192.0.2.7", "", "en")) + \
        (0).to_bytes(4, "big")
    rtype, rep = h.raw_request(env.sock, REQ_AUTH_START, payload)
    assert rtype == REP_AUTH, (rtype, rep)
    return rep


def _reply_lang(rep):
    """The lang field of an AUTH reply (doc/PROTOCOL.md): u8 result, str
    login, str masked, u32 minutes, u8 mail, u32 wait, str lang; nothing
    may follow it."""
    pos = 1
    for _ in range(2):
        pos += 4 + int.from_bytes(rep[pos:pos + 4], "big")
    pos += 4 + 1 + 4
    n = int.from_bytes(rep[pos:pos + 4], "big")
    assert len(rep) == pos + 4 + n, rep
    return rep[pos + 4:].decode()


def test_account_language_after_the_password(env):
    """A French account, no lang= and an English locale: the email and
    password prompts are English (nothing is known yet), every line after
    mfad accepted the password is French."""
    env.ctl_ok("user", "set", "alice", "--lang", "fr")
    t = dict(TEXTS["fr"], email=TEXTS["en"]["email"],
             password=TEXTS["en"]["password"])
    _full_login(env, _service(env, None), t, pamenv=["LANG=en_US.UTF-8"])


def test_english_account_under_a_french_locale(env):
    env.ctl_ok("user", "set", "alice", "--lang", "en")
    t = dict(TEXTS["en"], email=TEXTS["fr"]["email"],
             password=TEXTS["fr"]["password"])
    _full_login(env, _service(env, None), t, pamenv=["LANG=fr_FR.UTF-8"])


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_lang_argument_wins_over_the_account(env, lang):
    """lang= on the PAM line wins over the account's language too."""
    env.ctl_ok("user", "set", "alice", "--lang",
               "fr" if lang == "en" else "en")
    _full_login(env, _service(env, lang), TEXTS[lang],
                pamenv=["LANG=fr_FR.UTF-8" if lang == "en" else
                        "LANG=en_US.UTF-8"])


def test_remembered_device_success_in_the_account_language(env):
    """A remembered device: the password is all, and the success line
    is in the account's language."""
    env.ctl_ok("user", "set", "alice", "--lang", "fr")
    service = _service(env, None)
    t = dict(TEXTS["fr"], email=TEXTS["en"]["email"],
             password=TEXTS["en"]["password"])
    _full_login(env, service, t, pamenv=["LANG=en_US.UTF-8"])
    login = env.login(service=service, pamenv=["LANG=en_US.UTF-8"],
                      rhost="192.0.2.90")
    rc = login.run({"Email": "alice@example.org",
                    "Password": h.PASSWORD})
    assert rc == PAM_SUCCESS, login.dump()
    assert login.lines("INFO") == [("INFO", TEXTS["fr"]["ok"])], \
        login.dump()


def test_only_a_right_password_gets_the_language(env):
    """mfad's reply carries the account's language only for the right
    password: a wrong one, an unknown address and a locked account get
    the same empty field as every other denial."""
    env.add_user("bob", lang="fr")
    assert _reply_lang(_auth_start(env, "bob", "bob@example.org",
                                   h.PASSWORD)) == "fr"
    denied = [_auth_start(env, "bob", "bob@example.org", "wrong " + h.PASSWORD),
              _auth_start(env, "alice", "alice@example.org",
                          "wrong " + h.PASSWORD),
              _auth_start(env, "nobody", "nobody@example.org", h.PASSWORD),
              _auth_start(env, "bob", "carol@example.org", h.PASSWORD)]
    for rep in denied:
        assert rep[0] == 0 and _reply_lang(rep) == "", rep
    assert len(set(denied)) == 1, denied
    # A reset's answer is the same for every address: no language.
    for user, addr in (("bob", "bob@example.org"),
                       ("nobody", "nobody@example.org")):
        payload = b"".join(h.pstr(v) for v in (
            "mss-raw", user, addr, "", "192.0.2.8", "", "en")) + \
            (0).to_bytes(4, "big")
        rtype, rep = h.raw_request(env.sock, REQ_RESET_START, payload)
        assert rtype == REP_AUTH and rep[0] == 2, (rtype, rep)
        assert _reply_lang(rep) == "", rep
    env.ctl_ok("user", "lock", "bob")
    rep = _auth_start(env, "bob", "bob@example.org", h.PASSWORD)
    assert rep == denied[0], rep


def test_wrong_password_same_words_for_a_french_and_an_english_account(env):
    """No lang=, an English locale: a wrong password reads the same for
    a French account, an English one and an unknown user."""
    env.add_user("bob", lang="fr")
    service = _service(env, None)
    seen = []
    for user in ("alice", "bob", "nobody"):
        login = env.login(user=user, service=service,
                          pamenv=["LANG=en_US.UTF-8"])
        rc = login.run({"Email": "%s@example.org" % user,
                        "Password": "wrong " + h.PASSWORD})
        assert rc == PAM_AUTH_ERR, login.dump()
        seen.append(login.lines("INFO", "ERROR", "ECHO_ON", "ECHO_OFF"))
    assert seen[0] == seen[1] == seen[2], seen
    assert ("ERROR", TEXTS["en"]["denied"]) in seen[0]


@pytest.mark.parametrize("ttl,lang,want", [
    (60, "en", "It is valid for 1 minute."),
    (300, "en", "It is valid for 5 minutes."),
    (60, "fr", "Il est valable 1 minute."),
    (300, "fr", "Il est valable 5 minutes."),
])
def test_code_validity_plural(make_env, ttl, lang, want):
    """The count of minutes in the code-sent line and in the mail takes
    its language's plural form."""
    env = make_env({"code": {"ttl": ttl}})
    env.add_user("alice", lang=lang)
    login = env.login(service=_service(env, None),
                      pamenv=["LANG=en_US.UTF-8"])
    login.expect("ECHO_ON")
    login.answer("alice@example.org")
    login.expect("ECHO_OFF")
    login.answer(h.PASSWORD)
    info = login.expect("INFO")
    assert want in info, info
    body = h.body_text(env.smtp.wait_for("alice@example.org",
                                         match=h.has_code))
    n = ttl // 60
    unit = "minute" if n == 1 else "minutes"
    assert re.search(r"\b%d %s\b" % (n, unit), body), body
    assert not re.search(r"\b1 minutes\b", body), body
    login.close()


def test_remember_prompt_plural_day(make_env):
    env = make_env({"device": {"remember_days": 1}})
    env.add_user("alice", lang="fr")
    login = env.login(service=_service(env, None), rhost="192.0.2.91",
                      pamenv=["LANG=en_US.UTF-8"])
    login.expect("ECHO_ON")
    login.answer("alice@example.org")
    login.expect("ECHO_OFF")
    login.answer(h.PASSWORD)
    login.expect("INFO")
    login.expect("ECHO_ON", TEXTS["fr"]["code"])
    login.answer(env.smtp.wait_for_code("alice@example.org"))
    assert login.expect("ECHO_ON") == \
        "Se souvenir de cet appareil pendant 1 jour ? [o/N] "
    login.answer("n")
    assert login.result() == PAM_SUCCESS, login.dump()


def _success_lines(login):
    return [t for s, t in login.lines("INFO")
            if t in (TEXTS["en"]["ok"], TEXTS["fr"]["ok"])]


def test_success_said_once_per_login(env):
    """One login, auth and account steps as sshd runs them: the success
    line comes once, with a code and with a remembered device."""
    service = _service(env, "en")
    login, code = env.start_login(service=service, acct=True,
                                  rhost="192.0.2.93")
    login.answer(code)
    login.expect("ECHO_ON", "Remember")
    login.answer("yes")
    assert login.result() == PAM_SUCCESS, login.dump()
    assert login.result("acct_mgmt") == PAM_SUCCESS, login.dump()
    assert _success_lines(login) == [TEXTS["en"]["ok"]], login.dump()
    login = env.login(service=service, acct=True, rhost="192.0.2.93")
    rc = login.run({"Email": "alice@example.org", "Password": h.PASSWORD})
    assert rc == PAM_SUCCESS, login.dump()
    assert login.result("acct_mgmt") == PAM_SUCCESS, login.dump()
    assert _success_lines(login) == [TEXTS["en"]["ok"]], login.dump()


def test_enrollment_goes_on_in_the_account_language(env):
    """An invited French account, no lang=, an English locale: the same
    English words as any address until the code is proven, then French
    (a reset's or an enrollment's answers before the code never carry the
    language: nothing there may tell an invited address apart)."""
    env.ctl_ok("user", "add", "bob", "--email", "bob@example.org",
               "--lang", "fr")
    env.smtp.wait_for("bob@example.org", match=h.is_notice)
    login = env.login(user="bob", service=_service(env, None),
                      pamenv=["LANG=en_US.UTF-8"], rhost="192.0.2.62")
    assert login.expect("ECHO_ON") == TEXTS["en"]["email"]
    login.answer("bob@example.org")
    assert login.expect("ECHO_OFF") == TEXTS["en"]["password"]
    login.answer("")
    assert login.expect("INFO").startswith("Password reset or first login")
    assert login.expect("INFO").startswith("A code was sent to")
    assert login.expect("ECHO_ON") == TEXTS["en"]["code"]
    login.answer(env.smtp.wait_for_code("bob@example.org"))
    assert login.expect("INFO").startswith("Votre adresse e-mail est "
                                           "confirmée")
    assert login.expect("ECHO_OFF") == "Nouveau mot de passe : "
    login.answer("a brand new passphrase")
    assert login.expect("ECHO_OFF") == "Confirmez le nouveau mot de passe : "
    login.answer("a brand new passphrase")
    assert login.expect("INFO") == "Activation terminée."
    assert login.expect("ECHO_ON") == TEXTS["fr"]["remember"]
    login.answer("non")
    assert login.expect("INFO") == TEXTS["fr"]["ok"]
    assert login.result() == PAM_SUCCESS, login.dump()


@pytest.mark.parametrize("lang,until,left", [
    ("en", "until %Y-%m-%d %H:%M UTC", "(in 15 minutes)"),
    ("fr", "jusqu'au %d/%m/%Y à %H:%M UTC", "(dans 15 minutes)"),
])
def test_lock_mail_says_until_when(make_env, lang, until, left):
    """The mail sent when failures lock an account says until when (the
    end mfadctl user show gives, with its zone) and in how long; the
    login itself still reads as any wrong password."""
    env = make_env({"lockout": {"threshold": 3, "duration": 900}})
    env.add_user("alice", lang=lang)
    for _ in range(3):
        rep = _auth_start(env, "alice", "alice@example.org",
                          "wrong " + h.PASSWORD)
        assert rep[0] == 0 and _reply_lang(rep) == "", rep
    msg = env.smtp.wait_for("alice@example.org", match=h.is_notice)
    body = h.body_text(msg)
    end = env.ctl_json("user", "show", "alice")["locked_until"]
    end = datetime.datetime.strptime(end, "%Y-%m-%dT%H:%M:%SZ")
    assert end.strftime(until) + " " + left in body, body
    rc, out, _ = env.ctl("user", "show", "alice")
    assert rc == 0 and "locked until  %s" % end.strftime(
        "%Y-%m-%dT%H:%M:%SZ") in out, out


def test_user_show_says_what_ends_an_admin_lock(env):
    env.ctl_ok("user", "lock", "alice")
    rc, out, _ = env.ctl("user", "show", "alice")
    assert rc == 0 and "locked until  unlocked (user unlock)" in out, out


def test_reset_goes_on_in_the_account_language(env):
    """A reset of a French account under an English locale: English (as
    for any address) until the code is proven, French after it."""
    env.ctl_ok("user", "set", "alice", "--lang", "fr")
    login = env.login(service=_service(env, None),
                      pamenv=["LANG=en_US.UTF-8"])
    login.expect("ECHO_ON", TEXTS["en"]["email"])
    login.answer("alice@example.org")
    login.expect("ECHO_OFF", TEXTS["en"]["password"])
    login.answer("")
    assert login.expect("INFO").startswith("Password reset or first login")
    assert login.expect("INFO").startswith("A code was sent to")
    assert login.expect("ECHO_ON") == TEXTS["en"]["code"]
    login.answer(env.smtp.wait_for_code("alice@example.org"))
    assert login.expect("ECHO_OFF") == "Nouveau mot de passe : "
    login.answer("a brand new passphrase")
    assert login.expect("ECHO_OFF") == "Confirmez le nouveau mot de passe : "
    login.answer("a brand new passphrase")
    assert login.expect("ERROR") == \
        "Mot de passe changé. Veuillez vous reconnecter."
    assert login.result() == PAM_AUTH_ERR, login.dump()


@pytest.mark.parametrize("field,sent", [
    (b"", "A code was sent to"),              # an mfad from before lang
    (h.pstr("xx"), "A code was sent to"),     # an unknown value: ignored
    (h.pstr("fr"), "Un code a été envoyé à"),
    (h.pstr("fr") + b"\0", None),             # trailing bytes: refused
])
def test_module_reads_the_lang_field_strictly(make_env, field, sent):
    """The module takes only fr or en from the reply, keeps its language
    without the field, and refuses a reply with bytes after it."""
    env = make_env(start=False)
    payload = (bytes([2]) + h.pstr("ab" * 32) +
               h.pstr("al*****@example*****") + (5).to_bytes(4, "big") +
               bytes([0]) + (0).to_bytes(4, "big") + field)
    fake = h.FakeMfad(env.sock, h.frame(REP_AUTH, payload))
    try:
        login = env.login(service=_service(env, None),
                          pamenv=["LANG=en_US.UTF-8"])
        rc = login.run({"Email": "alice@example.org",
                        "Password": h.PASSWORD})
        infos = [t for _, t in login.lines("INFO")]
        if sent is None:
            assert rc == h.PAM_AUTHINFO_UNAVAIL and infos == [], \
                login.dump()
        else:
            assert len(infos) == 1 and infos[0].startswith(sent), \
                login.dump()
            assert rc != PAM_SUCCESS, login.dump()
    finally:
        fake.close()


LOCKED = {"en": "Your account is locked.", "fr": "Votre compte est verrouillé."}


def _stack(env, lang_arg, auth="mss"):
    """auth by pam_mss (or pam_permit: another module authenticates),
    then pam_mss's account step, lang= on both lines only when asked."""
    args = "socket=%s tries=3%s" % (env.sock, " lang=%s" % lang_arg
                                     if lang_arg else "")
    auth_line = ("auth required %s %s" % (h.PAM_MSS, args) if auth == "mss"
                 else "auth required pam_permit.so")
    (env.pamd / "mss-acct").write_text(
        "%s\naccount required %s %s\n" % (auth_line, h.PAM_MSS, args))
    return "mss-acct"


def _login_then_locked(env, lang_arg, t):
    """A whole login of alice; an admin locks the account while the
    remember question waits, so the account step after it in the same
    handle refuses, with its own line."""
    login = env.login(service=_stack(env, lang_arg), acct=True,
                      pamenv=["LANG=en_US.UTF-8"], rhost="192.0.2.91")
    assert login.expect("ECHO_ON") == TEXTS["en"]["email"]
    login.answer("alice@example.org")
    assert login.expect("ECHO_OFF") == TEXTS["en"]["password"]
    login.answer(h.PASSWORD)
    assert login.expect("INFO").startswith(t["sent"]), login.dump()
    assert login.expect("ECHO_ON") == t["code"], login.dump()
    login.answer(env.smtp.wait_for_code("alice@example.org"))
    assert login.expect("ECHO_ON") == t["remember"], login.dump()
    env.ctl_ok("user", "lock", "alice")
    login.answer("n")
    assert login.expect("INFO") == t["ok"], login.dump()
    assert login.result() == PAM_SUCCESS
    return login


def test_account_step_speaks_the_account_language(env):
    """A French account, no lang= and an English locale: the account
    step after the authentication in the same handle speaks French."""
    env.ctl_ok("user", "set", "alice", "--lang", "fr")
    login = _login_then_locked(env, None, TEXTS["fr"])
    assert login.expect("ERROR") == LOCKED["fr"], login.dump()
    assert login.result("acct_mgmt") == h.PAM_PERM_DENIED, login.dump()


def test_account_step_lang_argument_wins(env):
    env.ctl_ok("user", "set", "alice", "--lang", "fr")
    login = _login_then_locked(env, "en", TEXTS["en"])
    assert login.expect("ERROR") == LOCKED["en"], login.dump()
    assert login.result("acct_mgmt") == h.PAM_PERM_DENIED, login.dump()


def test_account_step_without_our_authentication_keeps_the_locale(env):
    """Another module authenticated: this handle never learned the
    account's language, so the account step speaks the locale's."""
    env.ctl_ok("user", "set", "alice", "--lang", "fr")
    env.ctl_ok("user", "lock", "alice")
    login = env.login(service=_stack(env, None, auth="permit"), acct=True,
                      pamenv=["LANG=en_US.UTF-8"])
    assert login.result() == PAM_SUCCESS, login.dump()
    assert login.expect("ERROR") == LOCKED["en"], login.dump()
    assert login.result("acct_mgmt") == h.PAM_PERM_DENIED, login.dump()


def test_wrong_password_leaves_no_language_for_the_account_step(env):
    """A wrong password: mfad gave no language, so none is kept and the
    account step (a locked French account) speaks the locale's."""
    env.ctl_ok("user", "set", "alice", "--lang", "fr")
    env.ctl_ok("user", "lock", "alice")
    login = env.login(service=_stack(env, None), acct=True,
                      pamenv=["LANG=en_US.UTF-8"])
    rc = login.run({"Email": "alice@example.org",
                    "Password": "not the password"})
    assert rc == PAM_AUTH_ERR
    assert login.expect("ERROR") == LOCKED["en"], login.dump()
    assert login.result("acct_mgmt") == h.PAM_PERM_DENIED, login.dump()


PASSWD = {
    "en": {"old": "Current password: ", "new": "New password: ",
           "again": "Repeat the new password: ",
           "short": "This password is too short.",
           "changed": "Password changed.",
           "failed": "Authentication failed: password not changed."},
    "fr": {"old": "Mot de passe actuel : ", "new": "Nouveau mot de passe : ",
           "again": "Confirmez le nouveau mot de passe : ",
           "short": "Ce mot de passe est trop court.",
           "changed": "Mot de passe changé."},
}
NEW_PASSWORD = "a brand new passphrase"
REQ_CHANGE_PASSWORD = 10
REP_RESULT = 100


def _passwd_service(env, lang_arg):
    args = "socket=%s tries=3%s" % (env.sock, " lang=%s" % lang_arg
                                     if lang_arg else "")
    (env.pamd / "mss-passwd").write_text(
        "password required %s %s\n" % (h.PAM_MSS, args))
    return "mss-passwd"


def _passwd(env, lang_arg, old=h.PASSWORD):
    login = env.login("alice", service=_passwd_service(env, lang_arg),
                      extra_args=["-c"], pamenv=["LANG=en_US.UTF-8"])
    en = PASSWD["en"]
    assert login.expect("ECHO_OFF") == en["old"], login.dump()
    login.answer(old)
    assert login.expect("ECHO_OFF") == en["new"], login.dump()
    login.answer("short")
    assert login.expect("ECHO_OFF") == en["again"], login.dump()
    login.answer("short")
    return login


@pytest.mark.parametrize("lang_arg", [None, "en"])
def test_passwd_speaks_the_account_language(env, lang_arg):
    """passwd for a French account under an English locale: the prompts
    before mfad's first answer are English (nothing is known yet); once
    mfad answered that the old password was right, the refusal, the
    prompts after it and the last line are French, unless lang=en."""
    env.ctl_ok("user", "set", "alice", "--lang", "fr")
    t = PASSWD["fr" if lang_arg is None else "en"]
    login = _passwd(env, lang_arg)
    assert login.expect("ERROR") == t["short"], login.dump()
    assert login.expect("ECHO_OFF") == t["new"], login.dump()
    login.answer(NEW_PASSWORD)
    assert login.expect("ECHO_OFF") == t["again"], login.dump()
    login.answer(NEW_PASSWORD)
    assert login.expect("INFO") == t["changed"], login.dump()
    assert login.result("chauthtok") == PAM_SUCCESS, login.dump()


def test_passwd_wrong_old_password_keeps_the_locale(env):
    """A wrong old password: mfad gives no language, the refusal is in
    the locale's language, as for an unknown user."""
    env.ctl_ok("user", "set", "alice", "--lang", "fr")
    login = _passwd(env, None, old="not the password")
    assert login.expect("ERROR") == PASSWD["en"]["failed"], login.dump()
    assert login.result("chauthtok") != PAM_SUCCESS, login.dump()


def test_change_password_reply_carries_the_language_only_for_the_owner(
        env):
    """doc/PROTOCOL.md: CHANGE_PASSWORD's RESULT 0 ends with the account's
    language (the old password was right); a wrong old password and an
    unknown user get RESULT 7 with nothing after the message, alike."""
    env.ctl_ok("user", "set", "alice", "--lang", "fr")

    def change(user, old, new):
        payload = b"".join(h.pstr(v) for v in ("passwd", user, old, new))
        rtype, rep = h.raw_request(env.sock, REQ_CHANGE_PASSWORD, payload)
        assert rtype == REP_RESULT, (rtype, rep)
        return rep

    wrong = change("alice", "not the password", NEW_PASSWORD)
    unknown = change("nobody", h.PASSWORD, NEW_PASSWORD)
    assert wrong == unknown == (7).to_bytes(4, "big") + \
        h.pstr("authentication failed"), (wrong, unknown)
    assert change("alice", h.PASSWORD, NEW_PASSWORD) == \
        (0).to_bytes(4, "big") + h.pstr("password changed") + h.pstr("fr")
