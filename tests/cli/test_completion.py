"""`reconciler completion bash|zsh|fish`: scripts made from the parser, loaded and asked to
complete by each real shell (bash's `complete`, zsh's completion system through a pseudo
terminal, fish's `complete -C`)."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from reconciler.cli import _parser
from reconciler.verbs.completion import command_tree
from tests.cli.shell import EXE, environment, reconciler
from tests.conftest import need

# What a user types (the cursor at the end) and the words each shell offers.
CASES = [
    ("reconciler st", ["status"]),
    ("reconciler comp", ["completion"]),
    ("reconciler status -o ", ["json", "text", "yaml"]),
    ("reconciler status --output y", ["yaml"]),
    ("reconciler validate --format g", ["github"]),
    ("reconciler plan --forge ", ["github", "local"]),
    (
        "reconciler review ",
        ["approve", "comment", "hold", "list", "release", "request-changes", "set-status", "show"],
    ),
    ("reconciler registry ", ["resolve", "tag"]),
    ("reconciler registry tag --dr", ["--dry-run"]),
    ("reconciler registry tag --kind ", ["ecr", "oci"]),
    ("reconciler once --dry", ["--dry-run"]),
    ("reconciler completion ", ["bash", "fish", "zsh"]),
    ("reconciler pin --app a --env b img --pu", ["--push"]),
]


def script(shell: str) -> str:
    done = reconciler("completion", shell)
    assert (done.returncode, done.stderr) == (0, "")
    return done.stdout


def test_bash_registers_the_function() -> None:
    done = subprocess.run(
        ["bash", "-c", "source <(reconciler completion bash); complete -p reconciler"],
        capture_output=True,
        text=True,
        env=environment({"PATH": f"{EXE.parent}:{environment()['PATH']}"}),
        check=False,
        timeout=30,
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        "complete -F _reconciler reconciler\n",
        "",
    )


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_every_verb_and_option_of_the_parser_is_in_the_script(shell: str) -> None:
    text = script(shell)
    tree = command_tree(_parser())
    for command in tree.walk():
        if command.path:
            assert command.path[-1] in text
        for option in command.options:
            for flag in option.flags:
                shown = flag.lstrip("-") if shell == "fish" else flag
                assert shown in text, (command.path, flag)


def _bash(line: str, text: str, folder: Path) -> list[str]:
    """What the bash script offers for ``line`` (COMP_* set as bash sets them)."""
    (folder / "reconciler.bash").write_text(text)
    probe = textwrap.dedent(
        """\
        source "$1"
        COMP_LINE=$2
        COMP_POINT=${#COMP_LINE}
        read -ra COMP_WORDS <<< "$COMP_LINE"
        [[ $COMP_LINE =~ [[:space:]]$ ]] && COMP_WORDS+=("")
        COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
        _reconciler
        printf '%s\\n' "${COMPREPLY[@]}"
        """
    )
    done = subprocess.run(
        ["bash", "-c", probe, "probe", str(folder / "reconciler.bash"), line],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return sorted(done.stdout.split())


@pytest.mark.parametrize(("line", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bash_completes(line: str, expected: list[str], tmp_path: Path) -> None:
    assert _bash(line, script("bash"), tmp_path) == expected


def test_bash_completes_files_and_folders(tmp_path: Path) -> None:
    (tmp_path / "config-repo").mkdir()
    (tmp_path / "config.toml").write_text("")
    text = script("bash")
    prefix = str(tmp_path / "conf")
    assert _bash(f"reconciler status --repo {prefix}", text, tmp_path) == [
        str(tmp_path / "config-repo")
    ]
    assert _bash(f"reconciler validate {prefix}", text, tmp_path) == [
        str(tmp_path / "config-repo"),
        str(tmp_path / "config.toml"),
    ]


@pytest.mark.parametrize(("line", "expected"), CASES, ids=[c[0] for c in CASES])
def test_fish_completes(line: str, expected: list[str], tmp_path: Path) -> None:
    need(shutil.which("fish") is not None, "fish")
    (tmp_path / "reconciler.fish").write_text(script("fish"))
    done = subprocess.run(
        [
            "fish",
            "--no-config",
            "-c",
            f"source {tmp_path / 'reconciler.fish'}; complete -C '{line}'",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert sorted(row.split("\t")[0] for row in done.stdout.splitlines()) == expected


# zsh completes only in its line editor: an interactive zsh in a pseudo terminal (zpty) is
# given each line and a Tab, then a key bound to a widget that appends the edited line to a
# file; a unique match is inserted whole, which is what each case expects.
_ZSH_DRIVER = """\
zmodload zsh/zpty
out=$1 folder=$2
shift 2
zpty -b z 'TERM=dumb zsh -f -i'
zpty -w z "PS1=''; bindkey -e; fpath=($folder \\$fpath); autoload -U compinit; compinit -u -D"
zpty -w z "reconciler() { :; }; dump() { print -r -- \\"\\$BUFFER\\" >> $out; BUFFER=''; }"
zpty -w z "zle -N dump; bindkey '^T' dump"
integer n=0
for line in "$@"; do
  zpty -w -n z "$line"$'\\t'$'\\x14'
  (( n++ ))
  for i in {1..100}; do (( $(wc -l < $out) >= n )) && break; sleep 0.05; done
done
zpty -d z
"""


def test_zsh_completes(tmp_path: Path) -> None:
    need(shutil.which("zsh") is not None, "zsh")
    (tmp_path / "_reconciler").write_text(script("zsh"))
    unique = [(line, found[0]) for line, found in CASES if len(found) == 1]
    out = tmp_path / "lines"
    out.write_text("")
    subprocess.run(
        ["zsh", "-f", "-c", _ZSH_DRIVER, "driver", str(out), str(tmp_path)]
        + [line for line, _ in unique],
        check=True,
        timeout=60,
        capture_output=True,
    )
    edited = out.read_text().splitlines()
    expected = [f"{line.rsplit(' ', 1)[0]} {word} " for line, word in unique]
    assert edited == expected


def test_zsh_and_fish_scripts_parse(tmp_path: Path) -> None:
    need(shutil.which("zsh") is not None, "zsh")
    need(shutil.which("fish") is not None, "fish")
    (tmp_path / "_reconciler").write_text(script("zsh"))
    (tmp_path / "reconciler.fish").write_text(script("fish"))
    subprocess.run(["zsh", "-n", str(tmp_path / "_reconciler")], check=True, timeout=30)
    subprocess.run(
        ["fish", "--no-execute", str(tmp_path / "reconciler.fish")], check=True, timeout=30
    )
