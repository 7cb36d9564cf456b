"""`python -m runtime` is the `edge-talker` command."""

import sys

from runtime.cli import main

sys.exit(main())
