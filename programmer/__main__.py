from programmer.cli import main

raise SystemExit(main())
