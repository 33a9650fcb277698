import sys

from pipeline.operations.cli import main

sys.exit(main())
