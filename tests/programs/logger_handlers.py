"""Leaky program: every job adds a handler to the same logger and never removes it.

Usage: python logger_handlers.py [JOBS] [BUFFER_SIZE]

Each handler keeps a buffer of BUFFER_SIZE bytes; the logger lives in the logging
module's registry for as long as the process does.
"""

from __future__ import annotations

import logging
import sys

JOBS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
BUFFER_SIZE = int(sys.argv[2]) if len(sys.argv) > 2 else 32 * 1024


class BufferingHandler(logging.Handler):
    def __init__(self, job_id: int) -> None:
        super().__init__()
        self.buffer = job_id.to_bytes(4, "little") * (BUFFER_SIZE // 4)  # LEAK-SITE

    def emit(self, record: logging.LogRecord) -> None:
        pass


def run_job(job_id: int) -> None:
    logger = logging.getLogger("app.worker")
    logger.addHandler(BufferingHandler(job_id))
    logger.warning("job %d done", job_id)


def main() -> None:
    for job_id in range(JOBS):
        run_job(job_id)
    print(f"ran {JOBS} jobs, {len(logging.getLogger('app.worker').handlers)} handlers")


main()
