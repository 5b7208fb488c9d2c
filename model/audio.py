"""Whisper's audio front end (log-mel spectrogram) and the AudioEncoder.

Front end, as checked against Whisper: 16 kHz mono, n_fft 400, hop 160 (100 frames/s),
Hann window, last STFT frame dropped, slaney mel filters, log10 with a floor at max - 8,
then (x + 4) / 4. One window is 30 s = 480,000 samples = 3000 mel frames.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchaudio.functional import melscale_fbanks

from data.media import SAMPLE_RATE
from model.attention import EncoderBlock, sinusoids

N_FFT = 400
HOP_LENGTH = 160
CHUNK_SECONDS = 30
N_SAMPLES = CHUNK_SECONDS * SAMPLE_RATE  # 480000 samples in a window
N_FRAMES = N_SAMPLES // HOP_LENGTH  # 3000 mel frames in a window
FRAMES_PER_SECOND = SAMPLE_RATE // HOP_LENGTH  # 100 mel frames per second
INPUT_STRIDE = 2  # mel frames per encoder position (conv2 has stride 2)
TIME_PRECISION = INPUT_STRIDE / FRAMES_PER_SECOND  # 0.02 s per encoder position / timestamp
POSITIONS_PER_SECOND = FRAMES_PER_SECOND // INPUT_STRIDE  # 50 encoder positions a second


@lru_cache(maxsize=4)
def mel_filters(n_mels: int, device: str) -> Tensor:
    """(n_mels, n_fft/2 + 1) slaney-normalised mel filter bank, as librosa builds for Whisper."""
    fbanks = melscale_fbanks(
        n_freqs=N_FFT // 2 + 1,
        f_min=0.0,
        f_max=SAMPLE_RATE / 2,
        n_mels=n_mels,
        sample_rate=SAMPLE_RATE,
        norm="slaney",
        mel_scale="slaney",
    )
    return fbanks.T.contiguous().to(device)


def log_mel_spectrogram(audio: Tensor | np.ndarray, n_mels: int = 80) -> Tensor:
    """audio: (..., N) float32 16 kHz samples -> (..., n_mels, N // 160) normalised log-mel."""
    audio = torch.as_tensor(audio, dtype=torch.float32)
    window = torch.hann_window(N_FFT, device=audio.device)
    stft = torch.stft(audio, N_FFT, HOP_LENGTH, window=window, return_complex=True)
    magnitudes = stft[..., :-1].abs() ** 2  # (..., 201, frames); Whisper drops the last frame
    mel = mel_filters(n_mels, str(audio.device)) @ magnitudes
    log_spec = torch.clamp(mel, min=1e-10).log10()
    floor = log_spec.amax(dim=(-2, -1), keepdim=True) - 8.0
    log_spec = torch.maximum(log_spec, floor)
    return (log_spec + 4.0) / 4.0


def window_mel(audio: Tensor | np.ndarray, n_mels: int = 80) -> Tensor:
    """Up to 30 s of samples (N,) -> the (n_mels, 3000) input of one encoder window.

    As faster-whisper does: the spectrogram of the samples (plus one hop of zeros) is
    floored at its own max - 8, cut to N // 160 frames, then zero-padded to 3000 frames.
    """
    audio = torch.as_tensor(audio, dtype=torch.float32)[..., :N_SAMPLES]
    n_frames = audio.shape[-1] // HOP_LENGTH
    # One hop of zeros as faster-whisper adds; more for a sliver too short to reflect-pad.
    padding = max(HOP_LENGTH, N_FFT - audio.shape[-1])
    mel = log_mel_spectrogram(F.pad(audio, (0, padding)), n_mels)[..., :n_frames]
    return F.pad(mel, (0, N_FRAMES - n_frames))


def encoder_positions(content_frames: int, padding: float | None) -> int:
    """Encoder positions (20 ms each, at most 1500) for a window of `content_frames` 10-ms
    mel frames of audio followed by `padding` seconds of its padding (None: all of it)."""
    whole = N_FRAMES // INPUT_STRIDE
    if padding is None:
        return whole
    wanted = -(-(content_frames + round(padding * FRAMES_PER_SECOND)) // INPUT_STRIDE)
    # Rounded up to whole seconds: chunks that differ by a few frames of audio (the same
    # speech found a little differently) get the same encoder length.
    return min(whole, -(-wanted // POSITIONS_PER_SECOND) * POSITIONS_PER_SECOND)


class AudioEncoder(nn.Module):
    """Whisper's encoder: two convolutions, fixed sinusoidal positions, pre-LN blocks.

    `summary` (off in the Whisper-compatible default) appends one token per window: the
    output averaged over the positions, projected and normalised. An average says how much
    of the window holds each sound, such as how many beeps, which softmax attention over
    the positions can only learn the hard way: it weights positions to sum to one, so it
    reads what a sound is, not how often it comes."""

    def __init__(
        self, n_mels: int, n_ctx: int, n_state: int, n_head: int, n_layer: int, summary=False
    ):
        super().__init__()
        self.conv1 = nn.Conv1d(n_mels, n_state, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(n_state, n_state, kernel_size=3, stride=2, padding=1)
        self.register_buffer("positional_embedding", sinusoids(torch.arange(n_ctx), n_state))
        self.blocks = nn.ModuleList(EncoderBlock(n_state, n_head) for _ in range(n_layer))
        self.ln_post = nn.LayerNorm(n_state)
        self.summary_proj = nn.Linear(n_state, n_state) if summary else None
        self.summary_ln = nn.LayerNorm(n_state) if summary else None

    def forward(self, mel: Tensor) -> Tensor:
        # mel: (B, n_mels, 3000) -> (B, 1500, D), or (B, 1500 + 1, D) with the summary token
        # last, in mel's dtype; the weights may be held in bfloat16 (model/cpu_precision.py),
        # the input is then cast to it.
        x = F.gelu(self.conv1(mel.to(self.conv1.weight.dtype)))
        x = F.gelu(self.conv2(x)).permute(0, 2, 1)  # (B, 1500, D)
        x = x + self.positional_embedding[: x.shape[1]].to(x.dtype)
        for block in self.blocks:
            x = block(x)
        x = self.ln_post(x)  # (B, 1500, D)
        if self.summary_proj is not None:
            summary = self.summary_ln(self.summary_proj(x.mean(dim=1)))  # (B, D)
            x = torch.cat([x, summary[:, None]], dim=1)  # (B, 1500 + 1, D)
        return x.to(mel.dtype)
