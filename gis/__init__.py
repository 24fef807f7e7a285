"""Health facility network planning for Vietnam's provinces.

Data flows one way: layers -> demand -> travel costs -> analyses -> outputs.
"""

__version__ = "0.1.0"
