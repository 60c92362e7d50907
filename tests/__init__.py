"""The pco_wire test suite; a package so that helpers import as ``tests.<module>``."""
