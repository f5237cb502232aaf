from drpo.visualize.cli import main

raise SystemExit(main())
