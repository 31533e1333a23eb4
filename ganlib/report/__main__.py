"""``python -m ganlib.report DIR [--readme README.md] [--results docs/results.md]``: see
:mod:`ganlib.report.document`."""
import sys

from ganlib.report.document import main

sys.exit(main())
