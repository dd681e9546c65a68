"""Side-by-side load comparison of every server stack: `python compare.py --help`.

The machinery lives in lab/compare.py; this is the entry point the README names.
"""

from lab import cli
from lab.compare import main

if __name__ == "__main__":
    cli.run(main)
