"""``python -m dockyard.cli``: the same as the ``dockyard`` console script."""

import sys

from dockyard.cli.main import main

sys.exit(main())
