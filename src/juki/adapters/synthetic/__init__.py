"""Synthetic data: a deterministic, realistic city for demos, load tests and development (``juki seed``)."""

from .city import CHIBA, FUJISAWA, PROFILES, SAPPORO, CityProfile, generate_city

__all__ = ["CHIBA", "FUJISAWA", "PROFILES", "SAPPORO", "CityProfile", "generate_city"]
