"""Command line: ``python -m torchtnt.report LOGDIR [-o OUT.html]``."""

import argparse
import sys
from typing import List, Optional

from torchtnt.report import DEFAULT_REPORT_NAME, write_report


def main(argv: Optional[List[str]] = None) -> int:
    """Write the report of ``LOGDIR`` and print its path.

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
        0 on success. Bad arguments, a missing LOGDIR or one without logs exit with
        status 2 and a message on stderr, as argparse does.
    """
    parser = argparse.ArgumentParser(
        prog="python -m torchtnt.report",
        description="Write one self-contained HTML file plotting every scalar logged under "
        "LOGDIR by CSVLogger, JSONLogger or TensorBoardLogger.",
    )
    parser.add_argument("logdir", metavar="LOGDIR", help="directory searched recursively")
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUT.html",
        help=f"output file (default: LOGDIR/{DEFAULT_REPORT_NAME})",
    )
    args = parser.parse_args(argv)
    try:
        path = write_report(args.logdir, args.output)
    except (OSError, ValueError) as e:
        parser.error(str(e))
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
