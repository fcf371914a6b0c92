"""`reconciler completion bash|zsh|fish`: a completion script made from the parser itself.

The command's parser is walked once into a tree of ``Command``s (sub-commands, options,
positionals); each shell's script is written from that tree, so a new verb or option
completes without anyone editing a script. Values complete from an option's ``choices``,
files for ``Path`` options and file arguments, folders for folder options.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from reconciler.verbs import EXIT_OK

PROG = "reconciler"
# Options and arguments named so, whatever their type, complete as files or as folders.
FILES = frozenset({"path", "paths", "file", "docker_config"})
FOLDERS = frozenset({"repo", "dir", "cache_dir"})


@dataclass(frozen=True)
class Value:
    """What an option's value or a positional argument completes to."""

    choices: tuple[str, ...] = ()
    kind: str = ""  # "file", "folder" or "" (nothing to offer)


@dataclass(frozen=True)
class Option:
    """One option: its spellings, its help, and its value (None for a flag)."""

    flags: tuple[str, ...]
    help: str
    value: Value | None


@dataclass(frozen=True)
class Positional:
    """One positional argument; ``repeats`` when it takes any number of words."""

    name: str
    value: Value
    repeats: bool


@dataclass(frozen=True)
class Command:
    """A command (the program itself, a verb, a verb's action) and what it takes."""

    path: tuple[str, ...]
    help: str
    options: tuple[Option, ...]
    positionals: tuple[Positional, ...]
    commands: tuple[Command, ...]

    def walk(self) -> Iterator[Command]:
        """This command, then every command below it, depth first."""
        yield self
        for command in self.commands:
            yield from command.walk()


def completion(args: argparse.Namespace) -> int:
    """Print the completion script for ``args.shell``."""
    tree = command_tree(args.parser)
    script = {"bash": bash, "zsh": zsh, "fish": fish}[args.shell](tree)
    sys.stdout.write(script)
    return EXIT_OK


def command_tree(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = (), summary: str = ""
) -> Command:
    """``parser`` as a ``Command`` (``summary``: its help in its parent's listing), its
    sub-parsers included."""
    options: list[Option] = []
    positionals: list[Positional] = []
    commands: list[Command] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action._name_parser_map.items():
                commands.append(command_tree(sub, (*path, name), helps.get(name, "")))
        elif action.option_strings:
            value = None if action.nargs == 0 else _value(action)
            options.append(Option(tuple(action.option_strings), _plain(action.help), value))
        else:
            name = str(action.metavar or action.dest)
            repeats = action.nargs in ("*", "+", argparse.REMAINDER)
            positionals.append(Positional(name, _value(action), repeats))
    return Command(path, _plain(summary), tuple(options), tuple(positionals), tuple(commands))


def _value(action: argparse.Action) -> Value:
    if action.choices is not None:
        return Value(choices=tuple(str(c) for c in action.choices))
    if action.dest in FOLDERS:
        return Value(kind="folder")
    if action.type is Path or action.dest in FILES:
        return Value(kind="file")
    return Value()


def _plain(text: str | None) -> str:
    """The first sentence of a help text, on one line, without argparse's ``%`` escapes."""
    if not text or text == argparse.SUPPRESS:
        return ""
    one = " ".join(text.replace("%%", "%").split())
    first = re.split(r"(?<=[.;])\s", one, maxsplit=1)[0].rstrip(".;")
    return first if len(first) <= 80 else first[:77].rstrip() + "..."


# -- bash -------------------------------------------------------------------------------------


def bash(tree: Command) -> str:
    """A bash script: ``source <(reconciler completion bash)``."""
    commands, options, values = [], [], []
    for command in tree.walk():
        path = " ".join(command.path)
        if command.commands:
            names = " ".join(c.path[-1] for c in command.commands)
            commands.append(f"        {shlex.quote(path)}) echo {shlex.quote(names)} ;;")
        flags = " ".join(f for o in command.options for f in o.flags)
        options.append(f"        {shlex.quote(path)}) echo {shlex.quote(flags)} ;;")
        for option in command.options:
            if option.value is not None:
                pattern = "|".join(shlex.quote(f"{path}/{flag}") for flag in option.flags)
                values.append(f"        {pattern}) echo {_bash_value(option.value)} ;;")
        for index, positional in enumerate(command.positionals):
            # "PATH#INDEX": the INDEXth positional; one that repeats takes every index after.
            at = shlex.quote(f"{path}#") + ("*" if positional.repeats else str(index))
            values.append(f"        {at}) echo {_bash_value(positional.value)} ;;")
    return _BASH.format(
        prog=PROG,
        commands="\n".join(commands),
        options="\n".join(options),
        values="\n".join(values),
    )


def _bash_value(value: Value) -> str:
    if value.choices:
        return shlex.quote("choices " + " ".join(value.choices))
    return value.kind or "none"


_BASH = """\
# bash completion for {prog}, made by `{prog} completion bash` from its own parser.
# Load it with: source <({prog} completion bash)

_{prog}_commands() {{  # the sub-commands of command path $1
    case $1 in
{commands}
    esac
}}

_{prog}_options() {{  # the options of command path $1
    case $1 in
{options}
    esac
}}

_{prog}_value() {{  # "PATH/OPTION", or "PATH#INDEX" (a positional): choices ..., file, folder, none
    case $1 in
{values}
        *) return 1 ;;
    esac
}}

_{prog}() {{
    local line=${{COMP_LINE:0:COMP_POINT}} path="" count=0 skip="" word i
    local -a words
    read -ra words <<< "$line"
    [[ $line =~ [[:space:]]$ ]] && words+=("")
    local cur=${{words[${{#words[@]}}-1]}}
    for ((i = 1; i < ${{#words[@]}} - 1; i++)); do
        word=${{words[i]}}
        if [[ -n $skip ]]; then
            skip=""
        elif [[ $word == -* ]]; then
            [[ $word != *=* ]] && _{prog}_value "$path/$word" >/dev/null && skip=1
        elif [[ " $(_{prog}_commands "$path") " == *" $word "* ]]; then
            path=${{path:+$path }}$word
            count=0
        else
            count=$((count + 1))
        fi
    done
    local spec="" prefix=""
    if [[ -n $skip ]]; then
        spec=$(_{prog}_value "$path/${{words[${{#words[@]}}-2]}}")
    elif [[ $cur == --*=* ]]; then
        spec=$(_{prog}_value "$path/${{cur%%=*}}") || return 0
        prefix=${{cur%%=*}}=
        cur=${{cur#*=}}
    elif [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_{prog}_options "$path")" -- "$cur"))
        return 0
    else
        local subcommands
        subcommands=$(_{prog}_commands "$path")
        if [[ -n $subcommands ]]; then
            COMPREPLY=($(compgen -W "$subcommands" -- "$cur"))
            return 0
        fi
        spec=$(_{prog}_value "$path#$count")
    fi
    case $spec in
        choices\\ *) COMPREPLY=($(compgen -W "${{spec#choices }}" -- "$cur")) ;;
        file) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")) ;;
        folder) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")) ;;
        *) COMPREPLY=() ;;
    esac
    # bash splits words at "=" too (COMP_WORDBREAKS): only what follows it is replaced.
    if [[ -n $prefix && $COMP_WORDBREAKS != *=* ]]; then
        COMPREPLY=("${{COMPREPLY[@]/#/$prefix}}")
    fi
    return 0
}}

complete -F _{prog} {prog}
"""


# -- zsh --------------------------------------------------------------------------------------


def zsh(tree: Command) -> str:
    """A zsh script: saved as ``_reconciler`` in a folder of ``$fpath``."""
    functions = [_zsh_function(command) for command in tree.walk()]
    return (
        f"#compdef {PROG}\n"
        f"# zsh completion for {PROG}, made by `{PROG} completion zsh` from its own parser.\n"
        f'# Install it with: {PROG} completion zsh > "${{fpath[1]}}/_{PROG}"\n\n'
        + "\n".join(functions)
        # Autoloaded from $fpath, this file is the function _reconciler: it defines the
        # functions, then completes; sourced, it registers them.
        + f'\nif [[ "$funcstack[1]" == _{PROG} ]]; then\n  _{PROG} "$@"\n'
        f"else\n  compdef _{PROG} {PROG}\nfi\n"
    )


def _zsh_name(command: Command) -> str:
    return "_" + "_".join((PROG, *command.path)).replace("-", "_")


def _zsh_function(command: Command) -> str:
    specs = [spec for option in command.options for spec in _zsh_option(option)]
    if command.commands:
        specs += ["'1: :->command'", "'*:: :->argument'"]
    else:
        for index, positional in enumerate(command.positionals, start=1):
            where = "*" if positional.repeats else str(index)
            name = _zsh_escape(positional.name)
            # An argument with nothing to offer still lets a word starting with - complete
            # as an option (_guard), where a bare " " action would offer nothing at all.
            action = _zsh_action(positional.value, guard=positional.name.replace('"', ""))
            specs.append(_zsh_quote(f"{where}:{name}:{action}"))
    lines = [f"{_zsh_name(command)}() {{"]
    if not command.commands:
        lines.append("  _arguments -s -S \\")
        lines.append("    " + " \\\n    ".join(specs))
        lines.append("}\n")
        return "\n".join(lines)
    described = [
        _zsh_quote(f"{c.path[-1]}:{c.help.replace(':', chr(92) + ':')}") for c in command.commands
    ]
    branches = [f"        {c.path[-1]}) {_zsh_name(c)} ;;" for c in command.commands]
    lines += [
        '  local curcontext="$curcontext" state state_descr line',
        "  typeset -A opt_args",
        "  _arguments -C -s -S \\",
        "    " + " \\\n    ".join(specs) + " && return 0",
        "  case $state in",
        "    command)",
        "      local -a commands=(",
        *(f"        {d}" for d in described),
        "      )",
        "      _describe -t commands command commands",
        "      ;;",
        "    argument)",
        f"      curcontext=${{curcontext%:*:*}}:{PROG}-$words[1]:",
        "      case $words[1] in",
        *branches,
        "      esac",
        "      ;;",
        "  esac",
        "}\n",
    ]
    return "\n".join(lines)


def _zsh_option(option: Option) -> list[str]:
    others = " ".join(option.flags)
    exclusive = f"({others})" if len(option.flags) > 1 else ""
    if option.flags[0] in ("-h", "--help", "--version"):
        exclusive = "(- *)"
    specs = []
    for flag in option.flags:
        described = f"{exclusive}{flag}"
        if option.value is not None:
            described += "=" if flag.startswith("--") else "+"
        described += f"[{_zsh_escape(option.help)}]"
        if option.value is not None:
            name = flag.lstrip("-")
            described += f":{name}:{_zsh_action(option.value)}"
        specs.append(_zsh_quote(described))
    return specs


def _zsh_action(value: Value, guard: str = "") -> str:
    if value.choices:
        return "(" + " ".join(value.choices) + ")"
    if value.kind:
        return {"file": "_files", "folder": "_files -/"}[value.kind]
    return f'_guard "^-*" "{guard}"' if guard else " "


def _zsh_escape(text: str) -> str:
    """Text inside an ``_arguments`` description: brackets and colons are syntax there."""
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]").replace(":", "\\:")


def _zsh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


# -- fish -------------------------------------------------------------------------------------


def fish(tree: Command) -> str:
    """A fish script: saved as ``~/.config/fish/completions/reconciler.fish``."""
    lines = [
        f"# fish completion for {PROG}, made by `{PROG} completion fish` from its own parser.",
        f"# Install it with: {PROG} completion fish > ~/.config/fish/completions/{PROG}.fish",
        f"complete -c {PROG} -f",
    ]
    for command in tree.walk():
        condition = _fish_condition(command)
        if command.commands:
            below = " ".join(c.path[-1] for c in command.commands)
            listing = condition if not command.path else f"{condition}; and not {_seen(below)}"
            for child in command.commands:
                lines.append(
                    f"complete -c {PROG} -n {shlex.quote(listing)} -a {child.path[-1]} "
                    f"-d {shlex.quote(child.help)}"
                )
        for option in command.options:
            lines.append(_fish_option(condition, option))
        for positional in command.positionals:
            value = _fish_value(positional.value, positional=True)
            if value:
                lines.append(f"complete -c {PROG} -n {shlex.quote(condition)} {value}")
    return "\n".join(lines) + "\n"


def _seen(names: str) -> str:
    return f"__fish_seen_subcommand_from {names}"


def _fish_condition(command: Command) -> str:
    if not command.path:
        return "__fish_use_subcommand"
    return "; and ".join(_seen(name) for name in command.path)


def _fish_option(condition: str, option: Option) -> str:
    flags = [f"-l {f[2:]}" if f.startswith("--") else f"-s {f[1:]}" for f in option.flags]
    value = _fish_value(option.value) if option.value is not None else ""
    if option.value is not None and not value:
        value = "-x"
    described = f"-d {shlex.quote(option.help)}" if option.help else ""
    parts = [f"complete -c {PROG} -n {shlex.quote(condition)}", *flags, value, described]
    return " ".join(part for part in parts if part)


def _fish_value(value: Value, *, positional: bool = False) -> str:
    """How fish completes a value: ``-x`` (an option's value, no files) unless files."""
    needs = "" if positional else "-x "
    if value.choices:
        return f"{needs}-a {shlex.quote(' '.join(value.choices))}"
    if value.kind == "file":
        return "-F" if positional else "-r -F"
    if value.kind == "folder":
        return f"{needs}-a '(__fish_complete_directories)'"
    return ""
