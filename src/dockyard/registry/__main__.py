"""``python -m dockyard.registry serve|gc``."""

import sys

from dockyard.registry.main import main

sys.exit(main())
