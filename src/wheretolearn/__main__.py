from wheretolearn.cli import main

raise SystemExit(main())
