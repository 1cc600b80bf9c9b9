"""One `--help` layout for the entry points outside Beam: the module docstring as written, and
every option's default after its help (argparse's own `ArgumentDefaultsHelpFormatter` reflows the
description and prints `(default: None)` for options whose help already explains the default)."""
from __future__ import annotations

import argparse


class DefaultsHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Raw description; ` (default: X)` appended to options that have a real default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text
