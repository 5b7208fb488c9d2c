"""What a user can choose about the subtitles, shared by the CLI, the web page and the
pipelines."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.layout import LayoutOptions
from app.speech_regions import SpeechOptions
from model.search import DecodingOptions


@dataclass(frozen=True)
class SubtitleOptions:
    decoding: DecodingOptions = field(default_factory=DecodingOptions)
    layout: LayoutOptions = field(default_factory=LayoutOptions)
    speech: SpeechOptions = field(default_factory=SpeechOptions)
    # True: speech chunks found by silero-vad, decoded in batches, words timed by alignment.
    # False: Whisper's sequential long-form loop over 30 s windows, segment timing.
    vad: bool = True
    fps: float | None = None  # frames per second for the visual tokens; None: the model's
    chinese: str = "simplified"  # Chinese subtitles' script: simplified, traditional or as-is
    shot_changes: str = "auto"  # "auto": cue times follow the video's cuts; "off": ignore them
    # "auto": text on screen (OCR) is decoding context where a video shows any; "off": never
    visual_context: str = "auto"
