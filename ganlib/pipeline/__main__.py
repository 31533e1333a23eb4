"""``python -m ganlib.pipeline PROFILE STAGE -o FILE``: see :mod:`ganlib.pipeline.profiles`."""
import sys

from ganlib.pipeline.profiles import main

sys.exit(main())
