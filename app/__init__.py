"""The application: pipelines from media to cues, the folder runner, the web page.

Importing it sets OMP_WAIT_POLICY=PASSIVE (unless the user set it) before PyTorch is
loaded. The pipelines run PyTorch beside other busy threads (media-reading workers,
silero-vad) and often beside other processes; OpenMP's default busy-waiting then makes
every small operation of a decoding step wait for a descheduled spinner. Measured with
caption.py on two files: --workers 1 took 2x the time of --workers 0 with spinning and
1.2x without it, and --workers 0 itself got faster on a loaded machine.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
