"""``python -m drpo.methods.drpo answer|serve|evaluate`` (see `drpo.methods.drpo.commands`)."""

import sys

from drpo.methods.drpo.commands import main

sys.exit(main())
