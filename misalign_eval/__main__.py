from misalign_eval.cli import main

raise SystemExit(main())
