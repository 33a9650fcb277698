"""The worker roles: capture (and its sources), the detector worker (and how it
draws), the events tail, and the supervisor behind ``rabbitcam run``. They
import the core and the detectors; never the operator's tools."""
