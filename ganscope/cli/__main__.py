import sys

from ganscope.cli.main import main

sys.exit(main())
