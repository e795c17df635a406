"""Gender from an Instagram display name and username: normalisation of decorated names
(``names``), the lookup tables and their loader (``lookup``, files in ``data/``), the detector.
Imports nothing else of the service. Public: :func:`detect_gender` and :class:`GenderGuess`.
"""
from server.utils.gender.detector import GenderGuess, detect_gender

__all__ = ["GenderGuess", "detect_gender"]
