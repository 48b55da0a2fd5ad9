"""``aiorsocket completion bash|zsh|fish``: each script loads and completes commands, options and values.

bash is driven through its completion function directly; fish through ``complete -C``; zsh
through a pseudo-terminal running an interactive shell, reading back the completed command line.
zsh and fish checks need those shells installed (bash always is).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Final

import pytest

from aiorsocket.cli.main import main

TIMEOUT: Final = 60


def _script(shell: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["completion", shell]) == 0
    return capsys.readouterr().out


def _need(shell: str) -> str:
    path = shutil.which(shell)
    # scripts/install provides every shell; a missing one must fail the run, not hide it.
    assert path is not None, f"{shell} is not installed: run `bash scripts/install --peers`"
    return path


BASH_CASES: Final = [
    (["aiorsocket", "st"], "stream"),
    (["aiorsocket", "fr"], "frames"),
    (["aiorsocket", "frames", ""], "decode"),
    (["aiorsocket", "stream", "--ta"], "--take"),
    (["aiorsocket", "rr", "--show-m"], "--show-metadata"),
    (["aiorsocket", "stream", "-o", ""], "auto text json hex raw"),
    (["aiorsocket", "request", "--data-mime", "c"], "cbor composite"),
    (["aiorsocket", "frames", "decode", "--framing", ""], "auto tcp frame"),
    (["aiorsocket", "completion", "f"], "fish"),
    (["aiorsocket", "request", "-d", "@pyproject.t"], "@pyproject.toml"),
]


@pytest.mark.parametrize(("words", "expected"), BASH_CASES)
def test_bash(words: list[str], expected: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    script = tmp_path / "aiorsocket.bash"
    script.write_text(_script("bash", capsys))
    (tmp_path / "pyproject.toml").write_text("")
    quoted = " ".join(f"'{word}'" for word in words)
    probe = (
        f"source {script}; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; "
        'COMPREPLY=(); _aiorsocket; echo "${COMPREPLY[*]}"'
    )
    done = subprocess.run(
        ["bash", "--norc", "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    assert done.stdout.strip() == expected


FISH_CASES: Final = [
    ("aiorsocket st", {"stream"}),
    ("aiorsocket stream --ta", {"--take"}),
    ("aiorsocket stream -o ", {"auto", "text", "json", "hex", "raw"}),
    ("aiorsocket frames ", {"decode"}),
    ("aiorsocket completion ", {"bash", "zsh", "fish"}),
    ("aiorsocket push --metadata-mime ro", {"routing"}),
]


@pytest.mark.parametrize(("line", "expected"), FISH_CASES)
def test_fish(line: str, expected: set[str], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fish = _need("fish")
    script = tmp_path / "aiorsocket.fish"
    script.write_text(_script("fish", capsys))
    done = subprocess.run(
        [fish, "--no-config", "-c", f"source {script}; complete -C '{line}'"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    assert {entry.split("\t")[0] for entry in done.stdout.splitlines()} == expected


ZSH_CASES: Final = [
    ("aiorsocket stream --ta", "aiorsocket stream --take "),
    ("aiorsocket fr", "aiorsocket frames "),
    ("aiorsocket frames decode --js", "aiorsocket frames decode --json "),
    ("aiorsocket stream --data-mime cb", "aiorsocket stream --data-mime cbor "),
    ("aiorsocket completion fi", "aiorsocket completion fish "),
    ("aiorsocket channel -o he", "aiorsocket channel -o hex "),
]

# An interactive zsh on a pseudo-terminal: type a line and TAB, then Ctrl-X prints the edited line
# between markers (split in the definition, so that the terminal's echo of it never matches).
_ZSH_DRIVER = """
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z 'fpath=(%(dir)s $fpath); autoload -Uz compinit; compinit -u -D'
zpty -w z 'show() { zle -I; print -r -- "{{""{$BUFFER}""}}"; BUFFER="" }; zle -N show; bindkey "^X" show'
zpty -w -n z %(line)s$'\\t\\x18'
for i in {1..100}; do
    zpty -r z line || break
    if [[ $line == '{{{'* ]]; then print -r -- "$line"; break; fi
done
zpty -d z
"""


@pytest.mark.parametrize(("line", "expected"), ZSH_CASES)
def test_zsh(line: str, expected: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    zsh = _need("zsh")
    (tmp_path / "_aiorsocket").write_text(_script("zsh", capsys))
    driver = _ZSH_DRIVER % {"dir": tmp_path, "line": f"'{line}'"}
    done = subprocess.run(
        [zsh, "-f", "-c", driver], capture_output=True, text=True, timeout=TIMEOUT, check=True
    )
    assert done.stdout.startswith("{{{"), done.stdout
    assert done.stdout[3 : done.stdout.index("}}}")] == expected


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_scripts_parse_and_leave_hidden_aliases_out(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    script = _script(shell, capsys)
    for command in ("request", "stream", "channel", "fnf", "push", "frames", "decode", "completion"):
        assert command in script
    assert "--dataFormat" not in script
    assert "metadata-mime" in script
    if shell == "bash" or shutil.which(shell):
        subprocess.run([shell, "-n"], input=script, text=True, check=True, timeout=TIMEOUT)
