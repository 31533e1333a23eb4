import sys

from ganlib.cli.commands import main

sys.exit(main())
