"""The application: pipelines from media to cues, the folder runner, the web page.

OpenMP's wait policy is left at its default (a waiting PyTorch thread spins briefly, then
sleeps). It used to be set to PASSIVE here, when the media-reading workers ran silero-vad
through PyTorch and two thread teams spun against each other on the cores. The readers no
longer run PyTorch (app/speech.py uses onnxruntime, one thread), and PASSIVE now made every
small operation of a decoding step wait for a sleeping thread to wake: measured with
bench/bench_speed.py's 20.5 minutes on 2 cores, caption.py took 12% longer with PASSIVE
(35.9 and 31.4 s against 29.4 and 31.0 s with --int8; 46.3 and 45.5 s against 41.3 and
40.7 s without), and --workers 0 was no faster than --workers 1 without it.
"""
