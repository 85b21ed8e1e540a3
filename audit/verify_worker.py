"""``python -m audit.verify_worker``: checks one range of a chain for ``audit.chain.verify``'s parallel path.

Reads ``{"url", "read_only", "chain", "first", "last", "prev"}`` as JSON on stdin (the URL may hold a password, so
not in argv) and prints ``{"ok": bool, "last_hash": str | null}``. A plain subprocess rather than multiprocessing,
so that verifying works the same from scripts, notebooks and Streamlit pages (nothing re-imports the caller's
``__main__``).
"""

from __future__ import annotations

import json
import sys

from audit.chain import check_range


def main() -> None:
    """Check the range described on stdin and print the result."""
    job = json.load(sys.stdin)
    ok, last_hash = check_range(
        job["url"], job["chain"], job["first"], job["last"], job["prev"], read_only=job.get("read_only", False)
    )
    json.dump({"ok": ok, "last_hash": last_hash}, sys.stdout)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the parent reports it, once
        sys.exit(130)
    except BrokenPipeError:  # the parent stopped waiting (interrupted, or it found a bad range first)
        sys.exit(141)
