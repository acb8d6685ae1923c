"""rujuk's service edge: settings, HTTP API, CLI. The only package that reads the environment."""

import gc
import os

#: Set by ``rujuk serve`` for itself and its workers: the garbage collector is off until the
#: app has started (``service.app`` turns it on again once the start-up objects are frozen).
#: Importing the service makes a few hundred thousand objects and the collector would scan them
#: again and again: about a fifth of the start-up time.
GC_OFF_UNTIL_STARTED = "RUJUK_GC_OFF_UNTIL_STARTED"

if os.environ.get(GC_OFF_UNTIL_STARTED) == "1":
    gc.disable()
