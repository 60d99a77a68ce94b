"""The same conversation in French and English (DESIGN.md section 3):
lang= wins, then the locale of the PAM environment, then the process."""

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
    """Without lang=, LANG in the PAM environment speaks for the user."""
    _full_login(env, _service(env, None), TEXTS["fr"],
                pamenv=["LANG=fr_FR.UTF-8"])


def test_lang_argument_wins_over_the_environment(env):
    """lang=en wins over a French PAM environment."""
    _full_login(env, _service(env, "en"), TEXTS["en"],
                pamenv=["LC_ALL=fr_FR.UTF-8"])
