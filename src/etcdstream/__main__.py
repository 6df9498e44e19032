"""`python -m etcdstream`: the command-line tool (etcdstream._cli)."""
from etcdstream._cli import main

raise SystemExit(main())
