import sys

from drpo.methods.oirl.choose import main

sys.exit(main())
