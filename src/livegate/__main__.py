from livegate.cli import main

raise SystemExit(main())
