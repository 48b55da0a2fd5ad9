"""``aiorsocket completion bash|zsh|fish``: shell completion generated from the argument parser itself.

Generating the scripts from the live parser, instead of keeping hand-written
ones, means a new command or option is completable the day it is added.
Hidden spellings (the rsocket-cli / rsocket-py aliases) are left out, as in
``--help``.  Arguments that take a value complete their choices, or file names
(also after ``@``, the CLI's "read this file" prefix).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from .args import MIME_ALIASES

SHELLS: Final = ("bash", "zsh", "fish")
PROG: Final = "aiorsocket"
#: Values offered for free-form options, by metavar: argparse cannot list them as choices.
_SUGGESTIONS: Final = {"MIME": list(MIME_ALIASES)}

_EPILOG = """\
install:
  bash:  echo 'source <(aiorsocket completion bash)' >> ~/.bashrc
  zsh:   aiorsocket completion zsh > "${fpath[1]}/_aiorsocket"   (or: source <(aiorsocket completion zsh))
  fish:  aiorsocket completion fish > ~/.config/fish/completions/aiorsocket.fish

examples:
  aiorsocket completion bash
  source <(aiorsocket completion zsh)
"""


def add_completion_command(commands: Any) -> None:
    parser = commands.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh or fish)",
        description="Print the completion script for SHELL on stdout.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    parser.set_defaults(handler=run_completion)


def run_completion(args: argparse.Namespace) -> int:
    from .main import build_parser

    tree = _command_tree(build_parser(), ())
    renderers: dict[str, Callable[[_Command], str]] = {
        "bash": bash_script,
        "zsh": zsh_script,
        "fish": fish_script,
    }
    sys.stdout.write(renderers[args.shell](tree))
    return 0


# -- what the parser knows --------------------------------------------------------------


@dataclass
class _Option:
    flags: list[str]
    help: str
    metavar: str
    takes_value: bool
    choices: list[str] | None
    repeatable: bool


@dataclass
class _Positional:
    name: str
    choices: list[str] | None


@dataclass
class _Command:
    path: tuple[str, ...]
    names: list[str]
    """This command's name and aliases (empty for the root)."""
    help: str
    options: list[_Option] = field(default_factory=list)
    positionals: list[_Positional] = field(default_factory=list)
    children: list[_Command] = field(default_factory=list)

    def walk(self) -> Iterator[_Command]:
        yield self
        for child in self.children:
            yield from child.walk()

    @property
    def function(self) -> str:
        return "_".join(("_" + PROG, *self.path)).replace("-", "_")


def _command_tree(
    parser: argparse.ArgumentParser,
    path: tuple[str, ...],
    names: list[str] | None = None,
    help_text: str = "",
) -> _Command:
    command = _Command(path, names or [], help_text)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            aliases: dict[int, list[str]] = {}
            for name, sub in action.choices.items():
                aliases.setdefault(id(sub), []).append(name)
            for name, sub in action.choices.items():
                if name in helps:
                    command.children.append(_command_tree(sub, (*path, name), aliases[id(sub)], helps[name]))
        elif action.help == argparse.SUPPRESS:
            continue
        elif action.option_strings:
            metavar = str(action.metavar or action.dest).upper()
            command.options.append(
                _Option(
                    flags=list(action.option_strings),
                    help=" ".join((action.help or "").split()),
                    metavar=metavar,
                    takes_value=action.nargs != 0,
                    choices=[str(choice) for choice in action.choices]
                    if action.choices
                    else _SUGGESTIONS.get(metavar),
                    repeatable=isinstance(action, argparse._AppendAction),
                )
            )
        else:
            choices = [str(choice) for choice in action.choices] if action.choices else None
            command.positionals.append(_Positional(str(action.metavar or action.dest), choices))
    return command


# -- bash -------------------------------------------------------------------------------


def _bash_words(words: list[str]) -> str:
    return "'" + " ".join(words) + "'"


def bash_script(tree: _Command) -> str:
    commands, options, values, positionals = [], [], [], []
    for command in tree.walk():
        keys = [" ".join((*command.path[:-1], name)) for name in command.names] or [""]
        pattern = "|".join(f"'{key}'" for key in keys)
        if command.children:
            names = [name for child in command.children for name in child.names]
            commands.append(f"        {pattern}) echo {_bash_words(names)};;")
        choices = [choice for position in command.positionals for choice in position.choices or ()]
        if choices:
            positionals.append(f"        {pattern}) echo {_bash_words(choices)};;")
        flags = [flag for option in command.options for flag in option.flags]
        options.append(f"        {pattern}) echo {_bash_words(flags)};;")
        for option in command.options:
            if not option.takes_value:
                continue
            cases = "|".join(f"'{key}|{flag}'" for key in keys for flag in option.flags)
            shown = _bash_words(option.choices) if option.choices else "__files"
            values.append(f"        {cases}) echo {shown};;")
    return f"""\
# bash completion for {PROG}; load it with: source <({PROG} completion bash)

_{PROG}_commands() {{
    case "$1" in
{chr(10).join(commands)}
    esac
}}

_{PROG}_options() {{
    case "$1" in
{chr(10).join(options)}
    esac
}}

_{PROG}_positionals() {{
    case "$1" in
{chr(10).join(positionals)}
    esac
}}

# Prints the choices of option $2 of command $1, or __files; fails when the option takes no value.
_{PROG}_values() {{
    case "$1|$2" in
{chr(10).join(values)}
        *) return 1;;
    esac
}}

_{PROG}_files() {{
    if [[ $1 == @* ]]; then
        COMPREPLY=($(compgen -f -P @ -- "${{1#@}}"))
    else
        COMPREPLY=($(compgen -f -- "$1"))
    fi
}}

_{PROG}() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="" path="" word values i
    ((COMP_CWORD > 0)) && prev="${{COMP_WORDS[COMP_CWORD - 1]}}"
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${{COMP_WORDS[i]}}"
        if [[ $word != -* && " $(_{PROG}_commands "$path") " == *" $word "* ]]; then
            path="${{path:+$path }}$word"
        fi
    done
    if values="$(_{PROG}_values "$path" "$prev")"; then
        if [[ $values == __files ]]; then
            _{PROG}_files "$cur"
        else
            COMPREPLY=($(compgen -W "$values" -- "$cur"))
        fi
    elif [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_{PROG}_options "$path")" -- "$cur"))
    elif [[ -n $(_{PROG}_commands "$path") ]]; then
        COMPREPLY=($(compgen -W "$(_{PROG}_commands "$path")" -- "$cur"))
    elif [[ -n $(_{PROG}_positionals "$path") ]]; then
        COMPREPLY=($(compgen -W "$(_{PROG}_positionals "$path")" -- "$cur"))
    else
        _{PROG}_files "$cur"
    fi
}}

complete -F _{PROG} {PROG}
"""


# -- zsh --------------------------------------------------------------------------------


def _zsh_quote(text: str) -> str:
    return text.replace("'", "'\\''")


def _zsh_help(text: str) -> str:
    return _zsh_quote(text).replace("[", "\\[").replace("]", "\\]")


def _zsh_option(option: _Option) -> str:
    flags = option.flags
    names = flags[0] if len(flags) == 1 else "{" + ",".join(flags) + "}"
    exclusive = "'*'" if option.repeatable else ("'(" + " ".join(flags) + ")'" if len(flags) > 1 else "")
    spec = f"'[{_zsh_help(option.help)}]"
    if option.takes_value:
        action = "(" + " ".join(option.choices) + ")" if option.choices else "_files"
        spec += f":{_zsh_quote(option.metavar).replace(':', '')}:{action}"
    return f"{exclusive}{names}{spec}'"


def _zsh_function(command: _Command) -> str:
    specs = [_zsh_option(option) for option in command.options]
    if command.children:
        described = [
            f"'{_zsh_quote(name)}:{_zsh_quote(child.help)}'"
            for child in command.children
            for name in child.names
        ]
        dispatch = "\n".join(
            f"        {'|'.join(child.names)}) {child.function} ;;" for child in command.children
        )
        specs += ["'1: :->command'", "'*:: :->args'"]
        continued = " \\\n        "
        body = f"""\
    local curcontext="$curcontext" state line
    typeset -A opt_args
    local -a commands
    commands=(
        {(chr(10) + "        ").join(described)}
    )
    _arguments -C \\
        {continued.join(specs)} && return
    case $state in
    command) _describe -t commands 'command' commands ;;
    args)
        case $words[1] in
{dispatch}
        esac ;;
    esac"""
    else:
        for position in command.positionals:
            action = "(" + " ".join(position.choices) + ")" if position.choices else "_files"
            specs.append(f"':{_zsh_quote(position.name)}:{action}'")
        body = "    _arguments \\\n        " + " \\\n        ".join(specs)
    return f"{command.function}() {{\n{body}\n}}\n"


def zsh_script(tree: _Command) -> str:
    functions = "\n".join(_zsh_function(command) for command in tree.walk())
    return f"""\
#compdef {PROG}
# zsh completion for {PROG}; save it as _{PROG} in a directory on $fpath,
# or load it with: source <({PROG} completion zsh)

{functions}
if [[ $funcstack[1] == _{PROG} ]]; then
    _{PROG} "$@"
else
    compdef _{PROG} {PROG}
fi
"""


# -- fish -------------------------------------------------------------------------------


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_condition(command: _Command) -> str:
    if not command.path:
        return "__fish_use_subcommand"
    seen = f"__fish_seen_subcommand_from {' '.join(command.names)}"
    below = [name for child in command.children for name in child.names]
    if below:
        seen += f"; and not __fish_seen_subcommand_from {' '.join(below)}"
    return seen


def fish_script(tree: _Command) -> str:
    lines = [
        f"# fish completion for {PROG}; load it with: {PROG} completion fish | source",
        f"complete -c {PROG} -f",
    ]
    for command in tree.walk():
        condition = _fish_quote(_fish_condition(command))
        lines.extend(
            f"complete -c {PROG} -n {condition} -a {name} -d {_fish_quote(child.help)}"
            for child in command.children
            for name in child.names
        )
        for option in command.options:
            parts = [f"complete -c {PROG} -n {condition}"]
            parts.extend(
                f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}" for flag in option.flags
            )
            if option.choices:
                parts.append(f"-x -a {_fish_quote(' '.join(option.choices))}")
            elif option.takes_value:
                parts.append("-r -F")
            parts.append(f"-d {_fish_quote(option.help)}")
            lines.append(" ".join(parts))
        lines.extend(
            f"complete -c {PROG} -n {condition} -a {_fish_quote(' '.join(position.choices))}"
            for position in command.positionals
            if position.choices
        )
    return "\n".join(lines) + "\n"
