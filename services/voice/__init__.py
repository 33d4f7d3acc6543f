"""VoiceService: a resident's live speech in, speech events, transcripts and safety flags out.

One bidi stream per spoken session (``lilo.voice.v1.VoiceService/StreamVoice``). Audio is
segmented by a voice-activity detector, each utterance is recognised by a ``SpeechEngine``
(default: pocketsphinx free transcription plus a keyword-spotting decoder for crisis
phrases), and every final transcript is screened through the crisis service; a crisis
yields a ``SafetyFlag`` carrying the alert id. See docs/services/voice.md.

Exception tree::

    VoiceError                 base of this package's own errors
    └── EngineError            the recognizer could not be created or failed
        └── WorkerLost         a recognition worker process died (the pool replaces it)

Contract violations by the client are raised as ``mesh.status.InvalidArgument``.
"""


class VoiceError(Exception):
    """Base of the voice service's errors."""


class EngineError(VoiceError):
    """The speech engine could not be created or failed while decoding."""


class WorkerLost(EngineError):
    """A recognition worker process exited; the utterances it held are lost."""
