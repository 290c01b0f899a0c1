"""Digit recognition engine: MNIST data, the CNN, training, evaluation and inference (no Streamlit here)."""

import importlib.util
import os
import sys

# TensorFlow's C++ start-up chatter is noise for a student running the app or the CLI.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# NOTE: importing TensorFlow and then pylibsrtp (pulled in by aiortc / streamlit-webrtc) crashes or
# hangs the process, while the reverse order is fine. Every TensorFlow import in this project goes
# through a `core` module, so loading pylibsrtp here, before any of them, makes every process safe:
# the app (Draw opened before Webcam), the test suite and the CLI. It is a small C extension. If a script
# imported TensorFlow before `core`, loading it now would itself crash, so then it is left alone.
if "tensorflow" not in sys.modules and importlib.util.find_spec("pylibsrtp") is not None:
    import pylibsrtp  # noqa: F401

__version__ = "1.0.0"
