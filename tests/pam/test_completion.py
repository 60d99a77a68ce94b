"""The bash completion of mfadctl (conf/bash-completion/mfadctl), run by
bash itself against the real mfadctl and, for account names, the real
mfad: commands, their words, options and values; names from `mfadctl
user list` for root only, a plain user's own name for anyone else, who
then sends mfad nothing it would refuse."""

import shlex
import subprocess

import mss_harness as h

COMPLETION = h.SRC_ROOT / "conf" / "bash-completion" / "mfadctl"

# Sources the file, sets COMP_WORDS/COMP_CWORD as bash would for the
# words given (the last is the one being completed), calls the function
# that `complete -p mfadctl` names, and prints COMPREPLY, one a line.
SCRIPT = """
source %s || exit 9
spec=$(complete -p mfadctl) || exit 8
fn=${spec#*-F }
fn=${fn%% *}
COMP_WORDS=(%s "$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE="${COMP_WORDS[*]}"
COMP_POINT=${#COMP_LINE}
"$fn" mfadctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%%s\\n' "${COMPREPLY[@]}"
"""


def complete(*words, as_user=None):
    cmd = ["bash", "--norc", "--noprofile", "-c",
           SCRIPT % (shlex.quote(str(COMPLETION)), shlex.quote(str(h.MFADCTL))),
           "bash"] + list(words)
    if as_user is not None:
        cmd = ["setpriv", "--reuid=" + as_user, "--regid=nogroup",
               "--clear-groups"] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=h.TIMEOUT)
    assert r.returncode == 0, r.stderr
    return sorted(w for w in r.stdout.splitlines() if w)


def test_commands_words_and_options():
    assert complete("") == sorted(["status", "user", "device", "audit",
                                   "mail", "backup", "import", "metrics"])
    assert complete("u") == ["user"]
    assert "reenroll" in complete("user", "")
    assert complete("device", "r") == ["revoke"]
    assert complete("user", "list", "--j") == ["--json"]
    assert complete("--v") == ["--version"]
    assert complete("user", "add", "bob", "--") == sorted(
        ["--email", "--help", "--json", "--lang", "--password-stdin",
         "--version"])
    assert complete("user", "set", "alice", "--lang", "") == ["en", "fr"]
    assert complete("audit", "--") == sorted(
        ["--help", "--json", "--limit", "--since", "--user",
         "--version"])
    # Global options before the command are skipped over.
    assert complete("-c", "/nonexistent", "--json", "device", "l") == \
        ["list"]
    # After "--" nothing is an option.
    assert complete("user", "show", "--", "--j") == []


def test_files_and_directories(tmp_path):
    (tmp_path / "staff.csv").write_text("")
    (tmp_path / "sub").mkdir()
    assert complete("import", str(tmp_path / "st")) == [
        str(tmp_path / "staff.csv")]
    assert complete("backup", str(tmp_path) + "/") == [str(tmp_path / "sub")]


def test_user_names_for_root_from_mfad(env):
    env.add_user("bob")
    ctx = ["-c", str(env.conf), "-s", str(env.sock)]
    assert complete(*ctx, "device", "list", "") == ["alice", "bob"]
    assert complete(*ctx, "user", "show", "b") == ["bob"]
    assert complete(*ctx, "audit", "--user", "a") == ["alice"]
    # A name is the first argument only; "user add" takes a new one.
    assert complete(*ctx, "device", "list", "alice", "") == []
    assert complete(*ctx, "user", "add", "") == []


def test_plain_user_gets_own_name_and_asks_mfad_nothing(env):
    ctx = ["-c", str(env.conf), "-s", str(env.sock)]
    assert complete(*ctx, "device", "list", "", as_user="nobody") == \
        ["nobody"]
    events = env.ctl_json("audit")
    events = events if isinstance(events, list) else next(
        v for v in events.values() if isinstance(v, list))
    assert not [e for e in events if e["event"] == "peer_denied"], events
