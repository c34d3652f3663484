#!/usr/bin/env python
"""Django's command-line utility for Touchstone."""

from __future__ import annotations

import os
import sys

# Django reads its settings lazily, on the first access: importing the command runner before the
# settings module is named below is safe.
from django.core.management import execute_from_command_line


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "touchstone.settings")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
