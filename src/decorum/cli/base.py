"""What every command group of the ``decorum`` command shares: exit codes, the parser class, stdin, the runtime, and
$EDITOR for YAML. Heavy libraries are imported inside functions, so ``--help`` is fast."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
# (parser, module, *command words): give ``parser`` the options of ``module`` when the command line names it
Lazy = Callable[..., None]


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2 (argparse prints usage too)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def lazy_arguments(parser: argparse.ArgumentParser, module: str) -> None:
    """Options of commands implemented elsewhere; their modules import cheaply (heavy imports are inside)."""
    import importlib

    try:
        mod = importlib.import_module(module)
    except ImportError:
        parser.set_defaults(_missing=module)
        return
    mod.add_arguments(parser)
    parser.set_defaults(_run=mod.run)


def run_lazy(args: argparse.Namespace) -> int:
    """Run a command implemented in its own module (``lazy_arguments`` set it up)."""
    if getattr(args, "_missing", None):
        from decorum.errors import DecorumError

        raise DecorumError(f"{args._missing} is not available in this build")
    return int(args._run(args))


def read_stdin_text(stream: Any = None) -> str:
    """Stdin as text; binary or invalid UTF-8 is a usage error naming the offset."""
    from decorum.errors import UsageError

    data = (stream or sys.stdin.buffer).read()
    try:
        text: str = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"stdin is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})") from exc
    if "\x00" in text:
        raise UsageError("stdin holds NUL bytes: binary data is not a question")
    return text


def runtime() -> Any:
    from decorum.bot.runtime import Runtime

    return Runtime.open()


def yaml_in_editor(name: str, text: str) -> Any:
    """``text`` opened in ``$VISUAL``/``$EDITOR``; what the editor saved, parsed as YAML."""
    import os
    import shlex
    import subprocess
    import tempfile
    from pathlib import Path

    from decorum.errors import UsageError
    from decorum.prompts.yaml_format import read_yaml_file

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        raise UsageError("edit needs --file FILE.yaml, or $EDITOR (or $VISUAL) set to an editor")
    with tempfile.TemporaryDirectory(prefix="decorum-edit-") as tmp:
        path = Path(tmp) / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            done = subprocess.run([*shlex.split(editor), str(path)], check=False)
        except OSError as exc:
            raise UsageError(f"could not start the editor {editor!r}: {exc.strerror}") from exc
        if done.returncode != 0:
            raise UsageError(f"the editor exited with status {done.returncode}; nothing saved")
        return read_yaml_file(path)


def edit_in_editor(latest: Any) -> Any:
    """The template ``latest`` opened as a file in ``$VISUAL``/``$EDITOR``; what the editor saved, parsed."""
    from dataclasses import replace

    from decorum.prompts.yaml_format import dump_template, template_from_data

    data = yaml_in_editor(latest.name, dump_template(replace(latest, legacy=False)))
    tpl, _ = template_from_data(data, f"{latest.name}.yaml", name=latest.name)
    return tpl
