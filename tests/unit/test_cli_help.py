"""Every option and argument of every `iem` command says what it does (`iem <command> --help`)."""

from __future__ import annotations

import argparse

from orchestration.cli import build_parser


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_option_of_every_command_has_help_text():
    # before: 16 options (--enterprises, --start, --days, --seed, --month, --rows, --host, --port, ...) had none
    missing = [
        f"iem {name} {action.option_strings[0] if action.option_strings else action.dest}"
        for name, sub in _subcommands(build_parser()).items()
        for action in sub._actions
        if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip()
    ]
    assert missing == []


def test_stage_running_commands_offer_verbose():
    commands = _subcommands(build_parser())
    for name in ("run", "transform", "export", "evaluate", "check"):
        assert "--verbose" in commands[name].format_help(), name
