from bench.arena.cli import main

raise SystemExit(main())
