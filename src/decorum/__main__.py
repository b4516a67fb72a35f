from decorum.cli import main

raise SystemExit(main())
