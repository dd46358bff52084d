"""`pxl serve` refuses to start without a signing key; `pxl up` options parse."""

from __future__ import annotations

import pytest

from api.cli import build_parser, main


@pytest.fixture
def no_key(monkeypatch):
    from workers.settings import get_settings

    for name in ("PXL_JWT_SECRET", "PXL_JWT_SECRET_FILE", "PXL_AUTH_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_serve_without_a_signing_key_refuses_with_the_remedy(no_key, capsys):
    assert main(["serve", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert "PXL_JWT_SECRET" in err and "PXL_AUTH_DISABLED" in err


def test_serve_with_a_short_key_refuses(no_key, monkeypatch, capsys):
    monkeypatch.setenv("PXL_JWT_SECRET", "short")
    assert main(["serve", "--port", "1"]) == 2
    assert "256 bits" in capsys.readouterr().err


def test_service_commands_parse():
    parser = build_parser()
    args = parser.parse_args(["serve", "--host", "0.0.0.0", "--port", "9000"])
    assert (args.host, args.port) == ("0.0.0.0", 9000)
    args = parser.parse_args(["worker", "--concurrency", "3", "--loglevel", "debug"])
    assert (args.concurrency, args.loglevel) == (3, "debug")
    args = parser.parse_args(["up", "--embedded", "--port", "8090"])
    assert args.embedded and args.port == 8090


@pytest.mark.parametrize("command", ["serve", "worker", "up"])
def test_every_flag_of_the_service_commands_has_help(command):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    undocumented = [a.option_strings for a in sub._actions if not a.help]
    assert undocumented == []


def test_command_table_names_what_each_module_registers():
    # build_parser imports only the chosen command's module, found through this table.
    import argparse
    import importlib

    from api.cli import COMMAND_MODULES

    for module, commands in COMMAND_MODULES.items():
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"api.cli.{module}").register(sub)
        assert tuple(sub.choices) == commands, module
    every = next(a for a in build_parser()._actions if a.dest == "command").choices
    assert list(every) == [c for commands in COMMAND_MODULES.values() for c in commands]
    only = next(a for a in build_parser("check")._actions if a.dest == "command").choices
    assert list(only) == ["prove", "check"]
