"""Import order: TensorFlow then pylibsrtp (pulled in by streamlit-webrtc) crashes a process unless `core` comes first."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

from resources import REPO

CORE = REPO / "core"


def run_python(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter at the repository root, as the app and the CLI start."""
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=timeout)


def loaded_after(code: str, names: tuple[str, ...]) -> list[str]:
    """Which of `names` are in sys.modules after `code` runs in a fresh interpreter."""
    completed = run_python(code + f"import sys, json\nprint(json.dumps(sorted(name for name in {names!r} if name in sys.modules)))\n")
    assert completed.returncode == 0, completed.stderr[-2000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


class TestImportOrder:
    def test_draw_page_then_webcam_page_dependencies_import_cleanly(self):
        # What the Draw page imports (TensorFlow through core.inference) before what the Webcam page imports
        # (av, aiortc and pylibsrtp through streamlit_webrtc): the order that crashed when Draw was opened first.
        code = (
            "import core.inference, core.live, core.explain\n"
            "import tensorflow\n"
            "import av, streamlit_webrtc, aiortc, pylibsrtp\n"
            "print('imported', tensorflow.__version__)\n"
        )

        completed = run_python(code)

        assert completed.returncode == 0, completed.stderr[-2000:]
        assert completed.stdout.startswith("imported")

    def test_importing_core_loads_neither_streamlit_nor_tensorflow(self):
        assert loaded_after("import core\n", ("streamlit", "tensorflow", "keras")) == []

    def test_the_reading_path_loads_neither_tensorflow_nor_scikit_image(self):
        # What Draw and Webcam import and run; scikit-image and SciPy (0.45 s and 35 MB) only train and measure.
        code = (
            "import numpy as np\n"
            "from core.inference import Recognizer\n"
            "from core.live import LiveReader\n"
            "LiveReader(Recognizer.load()).process(np.full((480, 640, 3), 230, np.uint8))\n"
        )
        assert loaded_after(code, ("tensorflow", "keras", "skimage", "scipy")) == []

    def test_importing_core_loads_pylibsrtp_first(self):
        completed = run_python("import sys, core\nprint('pylibsrtp' in sys.modules)\n")

        assert completed.stdout.strip() == "True"


class TestNoStreamlitInCore:
    def test_no_core_module_imports_streamlit(self):
        offenders = []
        for path in sorted(CORE.glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                offenders += [f"{path.name}: {name}" for name in names if name.split(".")[0] == "streamlit"]

        assert offenders == []
