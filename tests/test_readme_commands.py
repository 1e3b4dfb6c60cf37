"""The README's command table and the commands' --help agree, so they cannot drift apart.

Each code span of the table's first column is a usage line: ``duly``, a command path (``a|b``: each of them),
then options and positional arguments. ``[...]`` marks what is optional. Checked against the click commands:

- every path exists, and every command of ``duly --help`` is named by some line (down to each subcommand);
- every option exists on each command the line names, is optional exactly when it is bracketed, lists exactly its
  choices (``--format table|json|csv``) and its kind of date (``DATE``, ``DATETIME``), and its ``--help`` shows it;
- positional arguments are there (``NUMBER``, ``FILE``), optional exactly when bracketed;
- a line naming one command gives everything that command requires.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from duly.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
TYPE_NAMES = {"DATE", "DATETIME"}


@dataclass(frozen=True)
class Token:
    text: str
    optional: bool


def usage_lines() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Using it"):]
    section = section[:section.index("\n## ", 1)] if "\n## " in section[1:] else section
    lines = []
    for row in section.splitlines():
        if row.startswith("| `duly"):
            first_cell = row.split(" | ")[0]
            lines += re.findall(r"`(duly[^`]*)`", first_cell.replace("\\|", "|"))
    return lines


def tokens(line: str) -> list[Token]:
    result, depth = [], 0
    for word in line.split():
        opening = word.startswith("[")
        depth += word.count("[")
        result.append(Token(word.strip("[]"), optional=depth > 0 or opening))
        depth -= word.count("]")
    return result


def leaves(command: click.Command, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], click.Command]:
    if isinstance(command, click.Group):
        found = {}
        for name, sub in command.commands.items():
            found.update(leaves(sub, path + (name,)))
        return found
    return {path: command}


def resolve(words: list[Token]) -> tuple[list[tuple[tuple[str, ...], click.Command]], list[Token]]:
    """The commands a usage line names, and the rest of its tokens."""
    targets = [((), main)]
    rest = list(words[1:])
    while rest and all(isinstance(cmd, click.Group) for _, cmd in targets):
        names = rest.pop(0).text.split("|")
        next_targets = []
        for path, group in targets:
            for name in names:
                assert name in group.commands, f"`duly {' '.join(path + (name,))}` is no command"
                next_targets.append((path + (name,), group.commands[name]))
        targets = next_targets
    for path, cmd in targets:
        assert not isinstance(cmd, click.Group), f"`duly {' '.join(path)}`: name its subcommands " \
                                                 f"({'|'.join(sorted(cmd.commands))})"
    return targets, rest


LINES = usage_lines()


def test_the_readme_has_a_command_table():
    assert len(LINES) >= 15 and all(line.startswith("duly ") for line in LINES)


def test_every_command_is_in_the_readme():
    named = {path for line in LINES for path, _ in resolve(tokens(line))[0]}
    missing = sorted(" ".join(p) for p in set(leaves(main)) - named)
    assert missing == [], f"commands missing from the README's table: {missing}"


@pytest.mark.parametrize("line", LINES)
def test_each_readme_line_agrees_with_the_command(line):
    targets, rest = resolve(tokens(line))
    for path, command in targets:
        options = {opt: p for p in command.params if isinstance(p, click.Option) for opt in p.opts}
        arguments = [p for p in command.params if isinstance(p, click.Argument)]
        help_text = CliRunner().invoke(main, [*path, "--help"]).output
        mentioned, positional = set(), []
        words = list(rest)
        while words:
            word = words.pop(0)
            if word.text.startswith("-"):
                param = options.get(word.text)
                assert param is not None, f"`{line}`: `duly {' '.join(path)}` has no option {word.text}"
                assert word.text in help_text
                mentioned.add(param.name)
                assert word.optional == (not param.required), (
                    f"`{line}`: {word.text} is {'required' if param.required else 'optional'} in --help"
                    f" but {'optional' if word.optional else 'required'} in the README")
                if param.is_flag:
                    continue
                value = words.pop(0)
                if isinstance(param.type, click.Choice):
                    assert set(value.text.split("|")) == set(param.type.choices), (
                        f"`{line}`: {word.text} takes {'|'.join(param.type.choices)}")
                elif value.text in TYPE_NAMES or param.type.name in TYPE_NAMES:
                    assert value.text == param.type.name, f"`{line}`: {word.text} takes a {param.type.name}"
            else:
                positional.append(word)
        if len(targets) == 1:
            assert len(positional) == len(arguments), (
                f"`{line}`: `duly {' '.join(path)}` takes {[a.human_readable_name for a in arguments]}")
            for word, argument in zip(positional, arguments):
                assert word.optional == (not argument.required), f"`{line}`: {word.text}"
            required = {p.name for p in command.params if isinstance(p, click.Option) and p.required}
            assert required <= mentioned, f"`{line}` leaves out what it requires: {sorted(required - mentioned)}"
        else:
            assert not positional, f"`{line}`: name one command to give its arguments"
