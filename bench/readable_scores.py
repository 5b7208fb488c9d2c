"""Figures of one system's SRT files on the readable-subtitles set (bench/readable_media.py):
cues over non-speech, timing against the exact reference speech, layout rules, WER.

Timing and layout pool the cues and seconds of all videos (evaluation/subtitle_layout.py's
layout_report), so a long video weighs more than a short one and a cue on a no-speech video
counts as time away from speech.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.readable_media import Stretch, read_stretches
from data.subtitle_rules import LayoutOptions
from data.subtitles import Cue, read_subtitles
from evaluation.subtitle_layout import SPEECH_TOLERANCE, layout_report
from evaluation.subtitle_metrics import score_subtitle_corpus

NON_SPEECH_OVERLAP = 0.5  # seconds: a cue overlapping a non-speech stretch by more counts
TIMING_TOLERANCE = SPEECH_TOLERANCE  # seconds around reference speech that count as near it


@dataclass
class SystemScores:
    cues: int = 0
    cues_on_no_speech_videos: int = 0
    cues_in_stretches: int = 0  # on the videos with speech
    cues_by_kind: Counter = field(default_factory=Counter)  # kind -> cues over it, all videos
    invented: list[str] = field(default_factory=list)  # texts of cues over non-speech
    figures: dict = field(default_factory=dict)  # layout_report's overall figures
    wer: float | None = None


def _overlap(cue: Cue, stretch: Stretch) -> float:
    return min(cue.end, stretch.end) - max(cue.start, stretch.start)


def _over_non_speech(cue: Cue, stretches: list[Stretch]) -> list[Stretch]:
    return [s for s in stretches if _overlap(cue, s) > NON_SPEECH_OVERLAP]


def score_system(
    set_dir: Path, manifest: dict, srt_dir: Path, layout: LayoutOptions | None = None
) -> SystemScores:
    """Score srt_dir/NAME.srt for every video NAME of the set in `set_dir`."""
    scores = SystemScores()
    pairs, wer_pairs = [], []
    for video in manifest["videos"]:
        hyp = sorted(read_subtitles(srt_dir / f"{video['name']}.srt"), key=lambda c: c.start)
        ref = read_subtitles(set_dir / video["reference"])
        stretches = read_stretches(set_dir / video["non_speech"])
        scores.cues += len(hyp)
        if not video["has_speech"]:
            scores.cues_on_no_speech_videos += len(hyp)
        for cue in hyp:
            over = _over_non_speech(cue, stretches)
            if over:
                scores.invented.append(cue.text)
                scores.cues_in_stretches += video["has_speech"]
            scores.cues_by_kind.update({s.kind for s in over})
        if video["has_speech"]:
            wer_pairs.append((hyp, ref))
        pairs.append((hyp, ref))
    _, scores.figures = layout_report(pairs, layout or LayoutOptions(), TIMING_TOLERANCE)
    if wer_pairs:
        _, corpus = score_subtitle_corpus(wer_pairs, metrics=["wer"], use_java=False)
        scores.wer = corpus["wer"]
    return scores
