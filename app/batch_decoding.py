"""Stage 4, batched decoding: chunks from any files -> one encoder pass, one batched beam
search with Whisper's fallback and no-speech rules, then word timing (stage 5) -> words.

No speech is dropped silently. Chunks are decoded with timestamp tokens, as Whisper was
trained, so a decoding that ends early (the model stops at a pause and skips what follows)
shows where it stopped: the rest of the chunk is decoded again from there, as Whisper's own
loop moves its window to the last timestamp. After word timing, every stretch of detected
speech of `ALONE_SECONDS` or more that holds no word is decoded again on its own; what
still yields nothing is reported as unheard speech.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import torch

from app.chunks import Attempt, ChunkInput, Span
from app.memory import return_free_memory
from app.screen_terms import Prompt, build_prompt, context_helped, ranked_terms
from app.word_timing import time_words, unworded_speech
from data.subtitles import Word
from model.audio import (
    FRAMES_PER_SECOND,
    HOP_LENGTH,
    N_FRAMES,
    TIME_PRECISION,
    encoder_positions,
    window_mel,
)
from model.checkpoint import LoadedModel
from model.decoder import CrossCache
from model.search import (
    DecodingOptions,
    WindowResult,
    decode_with_fallback,
    detect_language,
    is_no_speech,
)

# Whisper writes these over music and noise; alone they are not speech.
NON_SPEECH_TEXT = frozenset("♪♫♬ .…-*()[]")
# Detected speech this long with no word is decoded again on its own.
ALONE_SECONDS = 1.0
# A decoding whose last timestamp leaves this much of its chunk is continued from there
# (a chunk ends with the speech detector's padding after the last word).
REST_SECONDS = 1.0
# ... when at least this much detected speech lies after it (not just a word's tail).
REST_SPEECH = 0.5
# The alignment of a text that ended early reads this far past its last timestamp.
ALIGN_MARGIN = 0.5
# Seconds of audio around a stretch decoded alone (as the speech detector pads regions).
ALONE_PAD = 0.4


@dataclass
class ChunkOutcome:
    """What decoding one chunk gave."""

    words: list[Word] = field(default_factory=list)  # in media seconds
    again: list[ChunkInput] = field(default_factory=list)  # parts to decode again
    unheard: list[Span] = field(default_factory=list)  # speech with no word, decoded alone
    # (start, end, terms): the on-screen terms the words from start to end were decoded with
    screen_terms: list[tuple[float, float, tuple[str, ...]]] = field(default_factory=list)


def content_frames(item: ChunkInput) -> int:
    """10-ms mel frames of real audio in the chunk's window (the rest is padding)."""
    return min(N_FRAMES, len(item.audio) // HOP_LENGTH)


def decode_batch(
    batch: list[ChunkInput],
    loaded: LoadedModel,
    decoding: DecodingOptions,
    languages: dict[int, str],
    encoder_padding: float | None = None,
) -> list[ChunkOutcome]:
    """Decode a batch of chunks. languages: file -> language, filled in for files seen for
    the first time (Whisper's rule: a file's language is that of its first chunk)."""
    model, tok = loaded.model, loaded.tokenizer
    cross = _encode(batch, loaded, encoder_padding)
    for row, item in enumerate(batch):
        if item.file not in languages:
            if decoding.language is not None or not tok.multilingual:
                languages[item.file] = decoding.language or "en"
            else:
                languages[item.file] = detect_language(model, tok, cross.narrow(row, 1))[0]
    timestamps = not decoding.without_timestamps
    outcomes = [ChunkOutcome() for _ in batch]
    for language in sorted({languages[item.file] for item in batch}):
        rows = [r for r, item in enumerate(batch) if languages[item.file] == language]
        group = _rows(cross, rows)
        sot = tok.sot_sequence(language, decoding.task, timestamps)
        prompts = [_screen_prompt(batch[r], tok, language) for r in rows]
        seeds = [_seed(batch[r], decoding) for r in rows]
        results = _decode_with_screen(model, tok, group, sot, prompts, seeds, decoding)
        return_free_memory()  # the alignment's tensors then reuse beam search's pages
        spoken = [
            _spoken_seconds(result, batch[r], tok, timestamps)
            for r, result in zip(rows, results, strict=True)
        ]
        texts = [_text_tokens(result, decoding, tok) for result in results]
        rests = [
            _rest(batch[r], until, text) for r, until, text in zip(rows, spoken, texts, strict=True)
        ]
        # A text that ended early is aligned only up to its end; the others over the whole
        # chunk (the timestamps then decide nothing about the word times).
        frames = [
            content_frames(batch[r])
            if rest is None
            else min(content_frames(batch[r]), round((until + ALIGN_MARGIN) * FRAMES_PER_SECOND))
            for r, until, rest in zip(rows, spoken, rests, strict=True)
        ]
        words = time_words(loaded, group, sot, [batch[r] for r in rows], texts, frames)
        for r, found, rest, prompt in zip(rows, words, rests, prompts, strict=True):
            outcomes[r] = _outcome(batch[r], found, rest)
            if prompt is not None and found:
                outcomes[r].screen_terms = [(found[0].start, found[-1].end, prompt.terms)]
    return outcomes


def _screen_prompt(item: ChunkInput, tok, language: str) -> Prompt | None:
    """The on-screen terms a chunk is decoded with; None when there are none."""
    if not item.screen:
        return None
    prompt = build_prompt(ranked_terms(item.screen, tok, language), tok)
    return prompt if prompt.terms else None


def _seed(item: ChunkInput, decoding: DecodingOptions) -> int:
    """A chunk's sampling seed (for the fallback's temperatures), from its audio: the same
    chunk samples the same tokens whatever else shares its batch."""
    return zlib.crc32(item.audio.tobytes(), decoding.seed)


def _decode_with_screen(model, tok, cross: CrossCache, sot: list[int],
                        prompts: list[Prompt | None], seeds: list[int],
                        decoding: DecodingOptions):  # fmt: skip
    """Decode each window with its on-screen terms as the prompt; a window whose prompted
    text did not help (see app.screen_terms.context_helped) is decoded again without them,
    and its prompt is set to None in `prompts`. Windows with and without a prompt are
    decoded apart, so a window without one decodes as it would with no text on screen (a
    prompt in the batch would pad the others' rows)."""
    results: list = [None] * len(prompts)
    prompted = [i for i, prompt in enumerate(prompts) if prompt is not None]
    plain = [i for i, prompt in enumerate(prompts) if prompt is None]
    for rows, tokens in (
        (plain, [[] for _ in plain]),
        (prompted, [prompts[i].tokens for i in prompted]),
    ):
        if rows:
            decoded = decode_with_fallback(
                model, tok, _rows(cross, rows), sot, tokens, decoding, [seeds[i] for i in rows]
            )
            for i, result in zip(rows, decoded, strict=True):
                results[i] = result
    limit = decoding.compression_ratio_threshold
    again = [
        i
        for i in prompted
        if not context_helped(results[i].text, prompts[i], results[i].compression_ratio, limit)
    ]
    if again:
        empty = [[] for _ in again]
        plain_again = decode_with_fallback(
            model, tok, _rows(cross, again), sot, empty, decoding, [seeds[i] for i in again]
        )
        for i, result in zip(again, plain_again, strict=True):
            results[i], prompts[i] = result, None
    return results


def _rows(cross: CrossCache, rows: list[int]) -> CrossCache:
    device = cross.audio[0][0].device
    return cross.index_select(torch.tensor(rows, device=device))


def _encode(
    batch: list[ChunkInput], loaded: LoadedModel, encoder_padding: float | None
) -> CrossCache:
    """The batch's encoder keys/values, one row per chunk."""
    model = loaded.model
    device = model.device
    mel = torch.stack([window_mel(item.audio, model.config.n_mels) for item in batch]).to(
        device
    )  # (B, n_mels, 3000)
    frames = times = mask = None
    if any(item.frames is not None and len(item.frames) for item in batch):
        most = max(len(item.frames) for item in batch)
        size = next(item.frames for item in batch if item.frames is not None).shape[1:]
        frames = torch.zeros((len(batch), most, *size), dtype=torch.uint8)
        times = torch.zeros((len(batch), most))
        mask = torch.zeros((len(batch), most), dtype=torch.bool)
        for row, item in enumerate(batch):
            n = 0 if item.frames is None else len(item.frames)
            if n:
                frames[row, :n], times[row, :n], mask[row, :n] = item.frames, item.frame_times, True
        frames, times, mask = frames.to(device), times.to(device), mask.to(device)
    # On a CPU the encoder is no faster batched and its attention maps grow with the batch,
    # so windows are encoded one at a time there, each (with `encoder_padding`) over only
    # its own audio and that much padding; a GPU takes the whole batch of full windows.
    step = len(batch) if device.type == "cuda" else 1
    trimmed = step == 1 and frames is None and encoder_padding is not None
    positions = [
        encoder_positions(content_frames(item), encoder_padding if trimmed else None)
        for item in batch
    ]

    def rows(tensor, i):
        return None if tensor is None else tensor[i : i + step]

    with torch.no_grad():
        parts = (
            model.encode(
                rows(mel, i)[..., : 2 * positions[i]],
                rows(frames, i),
                rows(times, i),
                rows(mask, i),
            )
            for i in range(0, len(batch), step)
        )
        cross = CrossCache.join(parts, len(batch), max(positions) if trimmed else None)
    return cross


def _text_tokens(result: WindowResult, decoding: DecodingOptions, tok) -> list[int]:
    """The text tokens of a decoded window (no timestamps); empty when it holds no speech."""
    if is_no_speech(result, decoding) or set(result.text) <= NON_SPEECH_TEXT:
        return []
    return [t for t in result.tokens if t < tok.eot]


def _spoken_seconds(result: WindowResult, item: ChunkInput, tok, timestamps: bool) -> float:
    """Where on the chunk's clock the decoded text ends: its last timestamp token, or the
    whole chunk when there is none."""
    whole = content_frames(item) / FRAMES_PER_SECOND
    stamps = [t for t in result.tokens if t >= tok.timestamp_begin] if timestamps else []
    if not stamps:
        return whole
    return min(whole, (stamps[-1] - tok.timestamp_begin) * TIME_PRECISION)


def _rest(item: ChunkInput, spoken_until: float, text: list[int]) -> ChunkInput | None:
    """The part of the chunk after its decoded text, when the decoding ended early: at
    least REST_SECONDS of the chunk and REST_SPEECH of detected speech were left unsaid."""
    if item.attempt is Attempt.ALONE or not text:
        return None
    # Each rest is at least REST_SECONDS shorter than its chunk, so continuing ends.
    if spoken_until < REST_SECONDS or item.seconds - spoken_until < REST_SECONDS:
        return None
    rest = item.part(spoken_until, item.seconds, Attempt.REST)
    if rest is None or _seconds(rest.speech) < REST_SPEECH:
        return None
    return rest


def _outcome(item: ChunkInput, words: list[Word], rest: ChunkInput | None) -> ChunkOutcome:
    """Words of one decoded chunk, and what of its speech must be decoded again."""
    outcome = ChunkOutcome(words=words)
    if item.attempt is Attempt.ALONE:
        if not words:
            outcome.unheard = list(item.speech)
        return outcome
    heard = item.speech
    if rest is not None:
        outcome.again.append(rest)
        heard = tuple((s, min(e, rest.chunk.start)) for s, e in heard if s < rest.chunk.start)
    for start, end in unworded_speech(words, heard, ALONE_SECONDS):
        part = item.part(
            item.chunk.to_joined(start) - ALONE_PAD,
            item.chunk.to_joined(end) + ALONE_PAD,
            Attempt.ALONE,
        )
        if part is not None:
            part.speech = ((start, end),)
            outcome.again.append(part)
    return outcome


def _seconds(spans: tuple[Span, ...]) -> float:
    return sum(end - start for start, end in spans)
