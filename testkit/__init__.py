"""Support for the tests and the benchmarks (never for the product): running
rabbitcam as a user does, reading its streams, the processes' own CPU figures,
the broker's namespaces, and the real pictures the detectors are tried on."""
