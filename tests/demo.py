#!/usr/bin/python3
"""A demo login on this machine, with every real part: mfad with a config
in a scratch directory, a local SMTP server that prints the mail it
receives, and the real pam_mss.so run by Linux-PAM. The person at the
terminal answers the real prompts; --auto answers them itself (for
scripts), reading the code from the mail.

  tests/demo.py [--auto] [--lang fr|en]
"""

import argparse
import getpass
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "pam"))
import mss_harness as h  # noqa: E402

USER = "demo"
ADDR = "demo.user@example.org"
PASSWORD = "correct horse battery staple"


def show_mail(msg):
    print("\n  +-- mail received by the local SMTP server " + "-" * 20)
    for k in ("From", "To", "Subject", "Date"):
        print("  | %s: %s" % (k, msg[k]))
    print("  |")
    for line in h.body_text(msg).splitlines():
        print("  | " + line)
    print("  +" + "-" * 63 + "\n")


def converse(login, auto, env):
    """Relays each PAM message to the terminal; answers prompts from the
    person, or by itself with --auto."""
    while "authenticate" not in login.results:
        style, text = login.next(timeout=600)
        if style in ("INFO", "ERROR"):
            print(("  ! " if style == "ERROR" else "  ") + text)
            if style == "INFO" and "*****" in text:
                show_mail(env.smtp.wait_for(ADDR, timeout=30,
                                            match=h.has_code))
            continue
        if style == "RESULT":
            continue
        if auto:
            if "mail" in text.lower() and "@" not in text:
                reply = ADDR
            elif style == "ECHO_OFF":
                reply = PASSWORD
            elif "?" in text:
                reply = "y" if not env.remembered else "n"
            else:
                reply = h.code_from(env.smtp.messages[-1][2]) \
                    if env.smtp.messages else ""
            print("%s%s" % (text, reply if style == "ECHO_ON" else ""))
        elif style == "ECHO_OFF":
            reply = getpass.getpass(text)
        else:
            reply = input(text)
        login.answer(reply)
    return login.results["authenticate"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--auto", action="store_true",
                    help="answer the prompts automatically")
    ap.add_argument("--lang", choices=("fr", "en"), default="en")
    args = ap.parse_args()
    if h.missing_binaries():
        sys.exit("demo: build first (tests/setup.sh): %s" %
                 h.missing_binaries())

    smtp = h.SmtpServer()
    smtp.start()
    env = h.MssEnv(smtp, {"mail": {"language": args.lang}})
    env.remembered = False
    try:
        env.start()
        env.add_user(USER, ADDR, PASSWORD, lang=args.lang)
        env.service("mss-demo", ["lang=%s" % args.lang])
        print("mfad runs in %s; SMTP server on 127.0.0.1:%d." %
              (env.dir, smtp.port))
        print("Log in as %s with the password \"%s\"; the code arrives "
              "by mail below.\n" % (ADDR, PASSWORD))
        for attempt in (1, 2):
            login = env.login(USER, service="mss-demo", rhost="192.0.2.10")
            rc = converse(login, args.auto, env)
            login.close()
            print("\n=> pam_authenticate: %s\n" %
                  ("PAM_SUCCESS" if rc == h.PAM_SUCCESS else rc))
            if rc != h.PAM_SUCCESS or attempt == 2:
                break
            env.remembered = True
            print("Second login from the same address (192.0.2.10): a "
                  "remembered device skips the code.\n")
        devices = env.ctl_ok("device", "list", USER)
        print("mfadctl device list %s:\n%s" % (USER, devices))
        return 0 if rc == h.PAM_SUCCESS else 1
    finally:
        env.close()
        smtp.stop()


if __name__ == "__main__":
    sys.exit(main())
