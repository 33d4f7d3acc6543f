"""Content-safety screening for Lilo Mesh: crisis detection and PHI masking.

The decision logic is pure (no I/O, clock or randomness) and sits behind the small
``Detector`` protocol in :mod:`services.safety.detector`; the gRPC adapter is
:mod:`services.safety.servicer`.

Modules:

- ``model``      enums and the frozen ``Analysis`` value the detectors return
- ``phi``        protected-health-information spans and masking
- ``normalize``  text clean-up before crisis matching (typos, leetspeak, contractions)
- ``rules``      the commented pattern tables the rule-based detector uses
- ``detector``   ``Detector`` protocol, ``RuleDetector`` and ``CompositeDetector``
- ``servicer``   ``SafetyServicer`` (grpc.aio) mapping ``Analysis`` to the proto
- ``evaluate``   precision/recall on a labelled JSONL set, with a release gate

Exception tree (everything the package raises on its own account)::

    SafetyError
    ├── PhiSpanError         spans passed to ``mask`` overlap or fall outside the text
    ├── DetectorConfigError  a detector was built with invalid arguments
    ├── EvalSetError         a line of an evaluation set is malformed
    └── ModelLoadError       the embedding weights or classifier file are missing or wrong
"""

from __future__ import annotations

__all__ = [
    "DetectorConfigError",
    "EvalSetError",
    "ModelLoadError",
    "PhiSpanError",
    "SafetyError",
]


class SafetyError(Exception):
    """Base class of every error raised by the safety package itself."""


class PhiSpanError(SafetyError, ValueError):
    """Spans given to ``mask`` overlap, are reversed or lie outside the text."""


class EvalSetError(SafetyError, ValueError):
    """A line of an evaluation set cannot be parsed or uses an unknown label."""


class DetectorConfigError(SafetyError, ValueError):
    """A detector was constructed with invalid arguments (for example, no detectors)."""


class ModelLoadError(SafetyError, RuntimeError):
    """The model detector's files (embedding weights, tokenizer, classifier) are unusable."""
