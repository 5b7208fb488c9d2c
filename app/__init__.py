"""The application: pipelines from media to cues, the folder runner, the web page.

OpenMP's wait policy is left at its default (a waiting PyTorch thread spins briefly, then
sleeps): with PASSIVE every small operation of a decoding step waits for a sleeping thread
to wake (README, Measured: figures behind the code).
"""
