"""rujuk's service edge: settings, HTTP API, CLI. The only package that reads the environment."""

import gc
import os
import warnings

from pydantic import BaseModel
from pydantic.warnings import UnsupportedFieldAttributeWarning

#: Every pydantic model (ours, FastAPI's, the FHIR resources') builds its validator when first
#: used, not when its class is made: building all of them, and the adapters of every route's
#: parameters, took 0.4 s of the start-up's CPU. The warm-up after start-up builds the routes'
#: (``service.app.warm_up``: the OpenAPI document needs every one of them).
BaseModel.model_config["defer_build"] = True
#: FastAPI gives a route's parameter adapters the ``Field`` they were declared with, ``alias``
#: included, and silences pydantic's warning about it while it builds them at start-up. Built
#: later, at the first request, the warning would escape: silenced here as FastAPI does.
warnings.filterwarnings("ignore", category=UnsupportedFieldAttributeWarning)

#: Set by ``rujuk serve`` for itself and its workers: the garbage collector is off until the
#: app has started (``service.app`` turns it on again once the start-up objects are frozen).
#: Importing the service makes a few hundred thousand objects and the collector would scan them
#: again and again: about a fifth of the start-up time.
GC_OFF_UNTIL_STARTED = "RUJUK_GC_OFF_UNTIL_STARTED"

#: The collector's thresholds once the service has started (``gc.set_threshold``; Python's
#: default is 700, 10, 10). A suggestion keeps about 580 tracked objects alive until it is
#: answered (reasons, a context per candidate, result tuples), so at 700 a collection ran in about
#: one request in seven and an older generation's in one in seventy: 741 collections in
#: ``scripts/bench_matching.py``'s 5,000 requests, up to 4.6 ms each. At 10,000 the youngest
#: generation is collected after 10,000 more objects are alive than at the last collection; the
#: requests' objects are freed by reference counting long before, so the benchmark's 5,000
#: requests see 2 collections. Cycles still are collected, later.
GC_THRESHOLD = (10_000, 10, 10)

if os.environ.get(GC_OFF_UNTIL_STARTED) == "1":
    gc.disable()
