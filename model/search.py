"""Decoding one batch of windows: greedy, beam search or sampling, with Whisper's rules.

KV cache for self-attention (cross-attention keys/values come once per window from
CrossCache), suppressed tokens, timestamp rules, no-speech probability, and the
per-window temperature fallback on repetition (compression ratio) or low log-probability.
Rows of a batch may have prompts of different lengths: they are left-padded, with their
own position ids and a key mask, so a row decodes exactly as it would alone.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor

from model.audio import TIME_PRECISION
from model.captioner import AVCaptioner
from model.decoder import CrossCache, TextDecoder
from model.tokenizer import WhisperTokenizer


@dataclass(frozen=True)
class DecodingOptions:
    task: str = "transcribe"  # or "translate" (to English; multilingual models)
    language: str | None = None  # None: English for .en models, detected otherwise
    beam_size: int = 5  # 1 = greedy
    best_of: int = 5  # samples per window when the temperature is above 0
    patience: float = 1.0
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    compression_ratio_threshold: float | None = 2.4
    logprob_threshold: float | None = -1.0
    no_speech_threshold: float | None = 0.6
    condition_on_previous_text: bool = True
    max_initial_timestamp: float = 1.0
    without_timestamps: bool = False
    sample_len: int | None = None  # default: half the text context (224)
    seed: int = 0  # for sampling at temperature > 0


@dataclass
class WindowResult:
    tokens: list[int]  # text and timestamp tokens, without the start sequence and <|endoftext|>
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    temperature: float


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


class LogitRules:
    """Whisper's logit filters: suppressed tokens, blank at the start, timestamp rules."""

    def __init__(self, tokenizer: WhisperTokenizer, suppress: list[int], suppress_begin: list[int],
                 sample_begin: int, timestamps: bool, max_initial_timestamp: float):  # fmt: skip
        self.tok = tokenizer
        self.suppress = suppress
        self.suppress_begin = suppress_begin
        self.sample_begin = sample_begin
        self.timestamps = timestamps
        self.max_initial_index = round(max_initial_timestamp / TIME_PRECISION)

    def apply(self, logits: Tensor, tokens: Tensor) -> None:
        """logits: (R, V) modified in place; tokens: (R, T) so far (left padding included)."""
        at_begin = tokens.shape[1] == self.sample_begin
        logits[:, self.suppress] = -torch.inf
        if at_begin:
            logits[:, self.suppress_begin] = -torch.inf
        if not self.timestamps:
            return
        ts_begin, eot = self.tok.timestamp_begin, self.tok.eot
        logits[:, self.tok.no_timestamps] = -torch.inf
        sampled = tokens[:, self.sample_begin :].tolist()
        for row, seq in enumerate(sampled):
            last_was_ts = len(seq) >= 1 and seq[-1] >= ts_begin
            penultimate_was_ts = len(seq) < 2 or seq[-2] >= ts_begin
            if last_was_ts:
                if penultimate_was_ts:  # a pair just closed: text must follow
                    logits[row, ts_begin:] = -torch.inf
                else:  # an open pair: a timestamp (or the end) must follow
                    logits[row, :eot] = -torch.inf
            stamps = [t for t in seq if t >= ts_begin]
            if stamps:
                # Timestamps never decrease, and a segment has non-zero length.
                last = stamps[-1] if last_was_ts and not penultimate_was_ts else stamps[-1] + 1
                logits[row, ts_begin:last] = -torch.inf
        if at_begin:
            logits[:, :ts_begin] = -torch.inf
            logits[:, ts_begin + self.max_initial_index + 1 :] = -torch.inf
        # If timestamps together are likelier than any text token, sample a timestamp.
        logprobs = F.log_softmax(logits.float(), dim=-1)
        ts_logprob = logprobs[:, ts_begin:].logsumexp(dim=-1)
        max_text = logprobs[:, :ts_begin].max(dim=-1).values
        logits[ts_logprob > max_text, :ts_begin] = -torch.inf


@dataclass
class _Prefix:
    tokens: Tensor  # (B, T0) left-padded initial tokens
    positions: Tensor  # (B, T0)
    key_valid: Tensor  # (B, T0) bool
    sot_index: Tensor  # (B,) position of <|startoftranscript|>


def _build_prefix(sot_sequence: list[int], prompts: list[list[int]], tok: WhisperTokenizer,
                  n_ctx: int, device) -> _Prefix:  # fmt: skip
    rows = []
    for prompt in prompts:
        prefix = []
        if prompt:
            prefix = [tok.sot_prev] + prompt[-(n_ctx // 2 - 1) :]
        rows.append(prefix + sot_sequence)
    width = max(len(r) for r in rows)
    tokens = torch.full((len(rows), width), tok.eot, dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    valid = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, row in enumerate(rows):
        pad = width - len(row)
        tokens[i, pad:] = torch.tensor(row)
        positions[i, pad:] = torch.arange(len(row))
        valid[i, pad:] = True
    sot_index = torch.full((len(rows),), width - len(sot_sequence), dtype=torch.long)
    return _Prefix(tokens.to(device), positions.to(device), valid.to(device), sot_index.to(device))


class _Stepper:
    """Runs the decoder one step at a time over rows that share a left-padded prefix layout."""

    def __init__(self, model: AVCaptioner, cross: CrossCache, prefix: _Prefix):
        self.model, self.cross = model, cross
        self.all_windows = cross  # as given: `keep` takes the remaining windows from it
        self.windows = list(range(cross.audio[0][0].shape[0]))  # rows of all_windows in use
        self.key_valid = prefix.key_valid  # (R, S)
        self.next_position = prefix.positions[:, -1] + 1  # (R,)
        self.past = None

    def first(self, tokens: Tensor, positions: Tensor) -> Tensor:
        t = tokens.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool, device=tokens.device).tril()
        mask = causal[None] & self.key_valid[:, None, :]
        mask |= torch.eye(t, dtype=torch.bool, device=tokens.device)[None]  # padded rows: no NaN
        logits, self.past = self.model.decoder(tokens, self.cross, None, positions, mask[:, None])
        return logits  # (R, T0, V)

    def step(self, last_tokens: Tensor) -> Tensor:
        """last_tokens: (R,) -> next-token logits (R, V)."""
        r = last_tokens.shape[0]
        self.key_valid = torch.cat(
            [self.key_valid, torch.ones(r, 1, dtype=torch.bool, device=last_tokens.device)], 1
        )
        mask = self.key_valid[:, None, None, :]
        logits, self.past = self.model.decoder(
            last_tokens[:, None], self.cross, self.past, self.next_position[:, None], mask
        )
        self.next_position = self.next_position + 1
        return logits[:, -1]

    def keep(self, rows: Tensor, windows: list[int]) -> None:
        """Only these rows (and windows, by position among those decoding) decode on. The
        encoder keys/values hold a row per window or per decoder row, as `_repeat_rows`
        laid them out. Shared ones are not copied: the windows left are runs of views."""
        if not _rows_share_window_keys(self.model):
            self.cross = self.cross.index_select(rows)
        else:
            self.windows = [self.windows[k] for k in windows]
            if self.all_windows.visual is None:
                self.cross = self.all_windows.runs(_runs(self.windows))
            else:
                index = torch.tensor(self.windows, device=rows.device)
                self.cross = self.all_windows.index_select(index)
        self.reorder(rows)

    def reorder(self, index: Tensor) -> None:
        """Beam search moved rows within their window's group. The rows of one group share
        the window (encoder keys/values) and the prompt layout, so only the self-attention
        cache follows; copying the encoder keys/values every step would cost more than the
        decoder step itself."""
        for i, (k, v) in enumerate(self.past):  # a layer at a time: one layer's copy extra
            self.past[i] = (k.index_select(0, index), v.index_select(0, index))
            del k, v
        self.key_valid = self.key_valid.index_select(0, index)
        self.next_position = self.next_position.index_select(0, index)


def _rows_share_window_keys(model: AVCaptioner) -> bool:
    """TextDecoder's attention lets the rows of one window (beams, samples) share its
    encoder keys/values; the LSTM needs a copy per row."""
    return isinstance(model.decoder, TextDecoder)


def _repeat_rows(
    model: AVCaptioner, prefix: _Prefix, cross: CrossCache, n: int
) -> tuple[_Prefix, CrossCache]:
    index = torch.arange(prefix.tokens.shape[0], device=prefix.tokens.device).repeat_interleave(n)
    repeated = _Prefix(
        *(
            t.index_select(0, index)
            for t in (prefix.tokens, prefix.positions, prefix.key_valid, prefix.sot_index)
        )
    )
    if _rows_share_window_keys(model):
        return repeated, cross
    return repeated, cross.index_select(index)


@torch.no_grad()
def decode_windows(
    model: AVCaptioner,
    tokenizer: WhisperTokenizer,
    cross: CrossCache,
    sot_sequence: list[int],
    prompts: list[list[int]],
    options: DecodingOptions,
    temperature: float,
    seeds: list[int] | None = None,
) -> list[WindowResult]:
    """Decode B windows at one temperature. cross: the windows' encoder keys/values (B rows);
    prompts: previous-text tokens per window (may be empty); seeds: each window's sampling
    seed (default options.seed for all), so that a window samples the same tokens in any
    batch. Returns one result per window."""
    device = model.device
    n_ctx = model.config.n_text_ctx
    sample_len = options.sample_len or n_ctx // 2
    prefix = _build_prefix(sot_sequence, prompts, tokenizer, n_ctx, device)
    b = prefix.tokens.shape[0]
    beam = temperature == 0 and options.beam_size > 1
    n_per = options.beam_size if beam else (options.best_of if temperature > 0 else 1)
    rows_prefix, rows_cross = _repeat_rows(model, prefix, cross, n_per)
    rules = LogitRules(tokenizer, model.config.suppress_ids, model.config.suppress_ids_begin,
                       prefix.tokens.shape[1], not options.without_timestamps, options.max_initial_timestamp)  # fmt: skip
    stepper = _Stepper(model, rows_cross, rows_prefix)
    generators = [
        torch.Generator(device=device).manual_seed(seed)
        for seed in (seeds if seeds is not None else [options.seed] * b)
    ]

    tokens = rows_prefix.tokens  # (R, T)
    first_logits = stepper.first(tokens, rows_prefix.positions)
    sot_logits = first_logits[torch.arange(b, device=device) * n_per, prefix.sot_index]
    if tokenizer.timestamps:  # Whisper vocabularies have a no-speech token
        no_speech = sot_logits.softmax(-1)[:, tokenizer.no_speech].tolist()
    else:  # captioning vocabularies do not
        no_speech = [0.0] * b
    logits = first_logits[:, -1]
    sum_logprobs = torch.zeros(tokens.shape[0], device=device)
    finished: list[dict[tuple, float]] = [{} for _ in range(b)]
    done = torch.zeros(tokens.shape[0], dtype=torch.bool, device=device)
    eot = tokenizer.eot
    max_candidates = round(options.beam_size * options.patience)

    # Beam search: the windows whose beams are done leave the batch (in steps, see below),
    # so a batch no longer runs every window until its longest one ends. `present` holds
    # the windows still in the rows, in row order; `last_beams` each window's unfinished
    # beams when it stopped (Whisper counts them when fewer than beam_size finished).
    present = list(range(b))
    last_beams: dict[int, list[tuple[tuple, float]]] = {}

    def keep_beams(position: int, window: int) -> None:
        rows = range(position * n_per, (position + 1) * n_per)
        last_beams[window] = [
            (tuple(tokens[j].tolist()) + (eot,), float(sum_logprobs[j])) for j in rows
        ]

    for _ in range(sample_len):
        rules.apply(logits, tokens)
        logprobs = F.log_softmax(logits.float(), dim=-1)
        if beam:
            tokens, sum_logprobs, source = _beam_update(
                tokens,
                logprobs,
                sum_logprobs,
                [finished[w] for w in present],
                len(present),
                n_per,
                eot,
                max_candidates,
            )
            for position, window in enumerate(present):
                if window not in last_beams and len(finished[window]) >= max_candidates:
                    keep_beams(position, window)
            if len(last_beams) == b or tokens.shape[1] >= n_ctx:
                break
            stepper.reorder(source)
            # Windows leave in steps of a quarter of those present: each step splits the
            # cross-attention into more runs of windows.
            stay = [k for k, window in enumerate(present) if window not in last_beams]
            if len(present) - len(stay) >= max(1, len(present) // 4):
                rows = torch.tensor(
                    [k * n_per + j for k in stay for j in range(n_per)], device=device
                )
                stepper.keep(rows, stay)
                tokens, sum_logprobs = tokens[rows], sum_logprobs[rows]
                present = [present[k] for k in stay]
        else:
            if temperature == 0:
                next_tokens = logprobs.argmax(dim=-1)
            else:
                probs = F.softmax(logits.float() / temperature, dim=-1)
                next_tokens = torch.cat([
                    torch.multinomial(probs[w * n_per : (w + 1) * n_per], 1, generator=g)
                    for w, g in enumerate(generators)
                ]).squeeze(1)  # fmt: skip
            gained = logprobs.gather(1, next_tokens[:, None]).squeeze(1)
            sum_logprobs += torch.where(done, 0.0, gained)
            next_tokens = torch.where(done, eot, next_tokens)
            done |= next_tokens == eot
            tokens = torch.cat([tokens, next_tokens[:, None]], dim=1)
            if bool(done.all()) or tokens.shape[1] >= n_ctx:
                break
        logits = stepper.step(tokens[:, -1])

    sample_begin = prefix.tokens.shape[1]
    if beam:
        for position, window in enumerate(present):
            if window not in last_beams:
                keep_beams(position, window)
    results = []
    for i in range(b):
        if beam:
            candidates = dict(finished[i])
            if len(candidates) < options.beam_size:  # unfinished beams count too
                for seq, score in last_beams[i]:
                    candidates.setdefault(seq, score)
            seqs = [(list(seq[sample_begin:]), score) for seq, score in candidates.items()]
        else:
            seqs = [
                (tokens[j, sample_begin:].tolist(), float(sum_logprobs[j]))
                for j in range(i * n_per, (i + 1) * n_per)
            ]
        seqs = [(s[: s.index(eot)] if eot in s else s, score) for s, score in seqs]
        # Rank by length-normalised log-probability (Whisper's default, no length penalty).
        best_tokens, best_score = max(seqs, key=lambda c: c[1] / max(len(c[0]), 1))
        text = tokenizer.decode(best_tokens).strip()
        results.append(WindowResult(
            tokens=best_tokens, text=text, avg_logprob=best_score / (len(best_tokens) + 1),
            no_speech_prob=no_speech[i], compression_ratio=compression_ratio(text), temperature=temperature,
        ))  # fmt: skip
    return results


def top_k_rows(x: Tensor, k: int, block: int = 64) -> tuple[Tensor, Tensor]:
    """torch.topk(x, k, dim=-1) for x (R, V) with k small against V (beam search over
    51,864 tokens): the k largest of a row lie in the k blocks of `block` columns whose
    maxima are largest (a block holding one of them has a maximum at least as large, and
    fewer than k blocks can beat it), so topk runs over k * block columns after one
    max per block, which is faster than topk over the whole rows; values and indices are
    those of torch.topk (ties aside, whose order torch.topk does not define either)."""
    rows, width = x.shape
    if width <= k * block:
        return x.topk(k, dim=-1)
    padded = F.pad(x, (0, -width % block), value=-torch.inf).view(rows, -1, block)
    blocks = padded.amax(dim=-1).topk(k, dim=-1).indices  # (R, k)
    candidates = padded.gather(1, blocks[..., None].expand(-1, -1, block)).view(rows, -1)
    values, where = candidates.topk(k, dim=-1)  # where: (R, k) in k * block columns
    return values, blocks.gather(1, where // block) * block + where % block


def _beam_update(tokens, logprobs, sum_logprobs, finished, n_audio, beam_size, eot, max_candidates):
    """One step of Whisper's beam search over n_audio groups of beam_size rows."""
    next_rows, next_scores, sources = [], [], []
    top_logprobs, top_tokens = top_k_rows(logprobs, beam_size + 1)
    top_logprobs, top_tokens = top_logprobs.tolist(), top_tokens.tolist()
    rows = tokens.tolist()
    base = sum_logprobs.tolist()
    for i in range(n_audio):
        scores, source = {}, {}
        for j in range(i * beam_size, (i + 1) * beam_size):
            for logprob, token in zip(top_logprobs[j], top_tokens[j], strict=True):
                seq = tuple(rows[j] + [token])
                scores[seq] = base[j] + logprob
                source[seq] = j
        saved = 0
        newly_finished = {}
        for seq in sorted(scores, key=scores.get, reverse=True):
            if seq[-1] == eot:
                newly_finished[seq] = scores[seq]
            else:
                next_rows.append(list(seq))
                next_scores.append(scores[seq])
                sources.append(source[seq])
                saved += 1
                if saved == beam_size:
                    break
        for seq in sorted(newly_finished, key=newly_finished.get, reverse=True):
            if len(finished[i]) >= max_candidates:
                break
            finished[i][seq] = newly_finished[seq]
    device = tokens.device
    return (
        torch.tensor(next_rows, device=device),
        torch.tensor(next_scores, device=device),
        torch.tensor(sources, device=device),
    )


def is_no_speech(result: WindowResult, options: DecodingOptions) -> bool:
    """Whisper's skip rule: the no-speech token is likely and the text is not confident."""
    if options.no_speech_threshold is None or result.no_speech_prob <= options.no_speech_threshold:
        return False
    return options.logprob_threshold is None or result.avg_logprob <= options.logprob_threshold


def needs_fallback(result: WindowResult, options: DecodingOptions) -> bool:
    """Whisper's test for a failed window: repetitive or improbable, unless it is silence."""
    failed = False
    if (
        options.compression_ratio_threshold is not None
        and result.compression_ratio > options.compression_ratio_threshold
    ):
        failed = True
    if options.logprob_threshold is not None and result.avg_logprob < options.logprob_threshold:
        failed = True
    if (options.no_speech_threshold is not None and result.no_speech_prob > options.no_speech_threshold
            and options.logprob_threshold is not None and result.avg_logprob < options.logprob_threshold):  # fmt: skip
        failed = False
    return failed


def decode_with_fallback(
    model: AVCaptioner,
    tokenizer: WhisperTokenizer,
    cross: CrossCache,
    sot_sequence: list[int],
    prompts: list[list[int]],
    options: DecodingOptions,
    seeds: list[int] | None = None,
) -> list[WindowResult]:
    """Decode at the first temperature; windows that fail are decoded again at the next
    temperature, and so on (Whisper's fallback). A window that fails at every temperature
    keeps its attempt with the best average log-probability among those not too
    repetitive (else among all), as faster-whisper does: openai-whisper's last attempt, at
    temperature 1.0, is mostly noise, and speech that really repeats itself (a sentence
    said four times in a window) fails the compression check at every temperature.
    Failed windows next to each other in the batch are decoded together, through views of
    their encoder keys/values: picking them out with index_select would copy ~18 MB a
    window."""
    results: list[WindowResult | None] = [None] * len(prompts)
    attempts: list[list[WindowResult]] = [[] for _ in prompts]
    pending = list(range(len(prompts)))
    for temperature in options.temperatures:
        for start, length in _runs(pending):
            decoded = decode_windows(
                model,
                tokenizer,
                cross.narrow(start, length),
                sot_sequence,
                prompts[start : start + length],
                options,
                temperature,
                None if seeds is None else seeds[start : start + length],
            )
            for i, result in enumerate(decoded, start):
                results[i] = result
                attempts[i].append(result)
        pending = [i for i in pending if needs_fallback(results[i], options)]
        if not pending:
            break
    for i in pending:  # failed at every temperature
        threshold = options.compression_ratio_threshold
        kept = [r for r in attempts[i] if threshold is None or r.compression_ratio <= threshold]
        best = max(kept or attempts[i], key=lambda r: r.avg_logprob)
        results[i] = replace(best, temperature=results[i].temperature)
    return results  # type: ignore[return-value]


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """Sorted indices -> (start, length) of each run of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and runs[-1][0] + runs[-1][1] == i:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((i, 1))
    return runs


@torch.no_grad()
def detect_language(
    model: AVCaptioner, tokenizer: WhisperTokenizer, cross: CrossCache
) -> list[str]:
    """The most likely language per window from the logits after <|startoftranscript|>."""
    codes = list(tokenizer.language_tokens)
    ids = torch.tensor([tokenizer.language_tokens[c] for c in codes], device=model.device)
    tokens = torch.full((cross.audio[0][0].shape[0], 1), tokenizer.sot, device=model.device)
    logits, _ = model.decoder(tokens, cross)
    best = logits[:, 0, ids].argmax(dim=-1).tolist()
    return [codes[i] for i in best]
