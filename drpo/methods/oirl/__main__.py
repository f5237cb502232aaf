import sys

from drpo.methods.oirl.commands import main

sys.exit(main())
