"""Exit codes every `newsmt` subcommand uses, so that scripts can trust them.

0 success; 1 the work ran but something failed (a smoke stage, a translation); 2 bad usage or
set-up (bad flag, no server, no models, the server package not installed); 130 interrupted.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
