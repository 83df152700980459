"""``python -m kerasopt_plugins ...``: the `kerasopt` command."""

import sys

from kerasopt_plugins.cli import main

if __name__ == "__main__":
    sys.exit(main())
