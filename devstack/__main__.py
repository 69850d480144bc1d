"""``python -m devstack``: what ``make local`` runs."""

import sys

from devstack.local import main

sys.exit(main())
