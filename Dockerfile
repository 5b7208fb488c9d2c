# avsub web page: `python serve.py` on port 7860, on the GPU when the container gets one.
#   docker build -t avsub .
#   docker run --gpus all -p 7860:7860 avsub        (or without --gpus: CPU)
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    GRADIO_ANALYTICS_ENABLED=False

# Ubuntu 24.04 ships Python 3.12; 3.11 comes from the deadsnakes PPA. Java runs the
# Score tab's PTB tokenizer and METEOR (pycocoevalcap).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates software-properties-common \
    && add-apt-repository -y ppa:deadsnakes/ppa \
    && apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*

# The README's install, in a virtual environment. Requirements first, so that code
# changes do not reinstall torch.
RUN python3.11 -m venv /opt/venv
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .

RUN useradd --create-home --shell /usr/sbin/nologin avsub
USER avsub

EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/', timeout=5)"]
CMD ["python", "serve.py", "--host", "0.0.0.0"]
