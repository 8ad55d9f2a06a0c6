"""`python -m ferry.server`: the same command line as the `ferry` script."""

import sys

from ferry.server.cli import main

# The guard matters: worker processes are spawned, and spawning re-imports the parent's
# __main__ module under another name.
if __name__ == "__main__":
    sys.exit(main())
