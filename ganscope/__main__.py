import sys

from ganscope.cli import main

sys.exit(main())
