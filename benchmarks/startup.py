"""Start-up and serving, in fresh processes: the first prediction, the app under AppTest, and the app served to Chromium.

The server and the browser are the browser tests' own (benchmarks/harness.py).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.children import process_cpu_seconds, process_maps_tensorflow, process_memory_mb, run_child
from benchmarks.harness import REPO, AppServer, chromium_available, launch_chromium
from benchmarks.plan import CAMERA_FPS, STREAMLIT_RERUN_INTERVAL, BenchError, Plan, milliseconds

HTTP_TIMEOUT = 120.0  # seconds for `streamlit run` to answer, when timing it
HTTP_POLL = 0.05  # seconds between polls while timing it
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"  # the page's script has finished its run
ANSWER = ".st-key-draw-digit p"  # the number Draw reads
EMPTY_CANVAS = "text=Draw a digit on the canvas."
# Pen strokes in canvas pixels: a 1 and a 7, each in a 100 x 160 box whose top-left corner is given.
ONE: list[list[tuple[float, float]]] = [[(50, 15), (50, 150)]]
SEVEN: list[list[tuple[float, float]]] = [[(15, 20), (90, 20), (45, 150)]]


def startup(model_path: str | os.PathLike[str], data: Any, scratch: Path, plan: Plan) -> dict[str, Any]:
    """Start-up times and the serving memory, in fresh processes; with Chromium, through the app's own pages."""
    # The app's light path, then the same with TensorFlow imported first (what the Draw page did before it).
    first = run_child("first_prediction", {"model_path": str(model_path), "with_tensorflow": False}, timeout=300)
    baseline = run_child("first_prediction", {"model_path": str(model_path), "with_tensorflow": True}, timeout=300)
    parts = ("interpreter", "tensorflow", "core", "load", "read")
    results: dict[str, Any] = {
        "import_tensorflow_s": baseline["tensorflow"],
        "first_prediction_s": first["seconds"],
        "first_prediction_parts_s": {part: first[part] for part in parts},
        "first_prediction_imports_tensorflow": first["tensorflow_imported"],
        "first_prediction_answer": first["number"],
        "first_prediction_with_tensorflow_s": baseline["seconds"],
    }
    digits = scratch / "digits.npz"
    np.savez(digits, images=data.x_test[:100], labels=data.y_test[:100])
    app = run_child("app", {"app_path": str(REPO / "app.py"), "digits_path": str(digits), "launched_at": time.time()}, timeout=600)
    if app["errors"]:
        raise BenchError(f"The app raised while its start-up was timed: {'; '.join(app['errors'])}")
    results.update(
        home_script_s=app["home_seconds"],
        home_imports_tensorflow=app["home_imports_tensorflow"],
        model_loads=app["model_loads"],
        app_test_peak_mb=app["peak_mb"],
    )
    served = None
    if plan.browser and chromium_available():
        try:
            served = _browser_session(data, scratch, plan)
        except Exception as error:  # the browser is a bonus; without it the HTTP figures below still stand
            results["browser_error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
    results.update(served or {"method": "http", **_serve_over_http(scratch)})
    if results["method"] == "chromium":
        results["home_imports_tensorflow"] = results["home_imports_tensorflow"] or results["server_imports_tensorflow_on_home"]
    return results


def _serve_over_http(scratch: Path) -> dict[str, Any]:
    """Without a browser: seconds from `streamlit run` to HTTP 200 on /_stcore/health and on /."""
    with AppServer(scratch) as server:
        health = server.wait_for("/_stcore/health", timeout=HTTP_TIMEOUT, poll=HTTP_POLL)
        home = server.wait_for("/", timeout=HTTP_TIMEOUT, poll=HTTP_POLL)
        return {"server_health_s": round(health, 2), "home_s": round(home, 2)}


def _browser_session(data: Any, scratch: Path, plan: Plan) -> dict[str, Any]:
    """The app in headless Chromium: Home rendered, a digit drawn on Draw, then Webcam reading a fake camera."""
    from playwright.sync_api import sync_playwright

    from core.synth import frames_from_digits, write_y4m

    written = frames_from_digits(data.x_test, data.y_test, 20, seed=21)
    video = write_y4m([frame.image for frame in written], scratch / "camera.y4m", fps=int(CAMERA_FPS))
    with sync_playwright() as playwright:
        # The browser starts before the server so that its own start-up is not counted.
        browser = launch_chromium(playwright, video)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            with AppServer(scratch) as server:
                health = server.wait_for("/_stcore/health", timeout=HTTP_TIMEOUT, poll=HTTP_POLL)
                page.goto(server.url, timeout=120_000)
                page.wait_for_selector("h1:has-text('Digit Lab')", timeout=120_000)
                page.wait_for_selector("[data-testid='stSidebar'] [data-testid='stMetricValue']", timeout=120_000)
                home = time.perf_counter() - server.launched
                imports_tensorflow = process_maps_tensorflow(server.pid)
                draw = _draw_a_digit(page)
                strokes = _stroke_cpu(page, server.pid, plan.stroke_cycles) if plan.stroke_cycles else {}
                camera = _watch_webcam(page, server.pid, plan.webcam_seconds)
                peak_mb, current_mb = process_memory_mb(server.pid)
                page.close()
                sessions = _evaluate_then_webcam_sessions(browser, server, plan.webcam_sessions) if plan.webcam_sessions else {}
        finally:
            browser.close()
    return {
        "method": "chromium",
        "server_health_s": round(health, 2),
        "home_s": round(home, 2),
        "server_imports_tensorflow_on_home": imports_tensorflow,
        **draw,
        **strokes,
        **camera,
        **sessions,
        "server_peak_mb": peak_mb,
        "server_current_mb": current_mb,
    }


def _draw_a_digit(page: Any) -> dict[str, Any]:
    """Open Draw from the sidebar, write a 1 with the mouse, wait for the answer. -> seconds from the click."""
    began = time.perf_counter()
    page.locator("a[data-testid='stSidebarNavLink'][href$='/draw']").click()
    page.wait_for_selector("canvas.upper-canvas", timeout=120_000)
    _stroke(page, ONE, 40)
    answer = page.wait_for_selector(ANSWER, timeout=180_000)
    return {"draw_first_prediction_s": round(time.perf_counter() - began, 2), "draw_answer": answer.inner_text().strip()}


def _watch_webcam(page: Any, pid: int, seconds: float) -> dict[str, Any]:
    """Press START on Webcam and read the page's own readout (real FPS, last frame's milliseconds) for `seconds`,
    and the server's CPU meanwhile (receiving, reading, drawing and sending back every frame)."""
    page.locator("a[data-testid='stSidebarNavLink'][href$='/webcam']").click()
    _press_video(page, "START")
    pattern = re.compile(r"([\d.]+) frames per second read; last frame took (\d+) ms")
    samples: list[tuple[float, float]] = []
    first_seen, cpu_at_first, deadline = None, 0.0, time.perf_counter() + 120
    while time.perf_counter() < deadline:
        match = pattern.search(page.inner_text("body"))
        if match and float(match.group(1)) > 0:
            if first_seen is None:
                first_seen, cpu_at_first = time.perf_counter(), process_cpu_seconds(pid)
            samples.append((float(match.group(1)), float(match.group(2))))
            if time.perf_counter() - first_seen >= seconds:
                break
        time.sleep(STREAMLIT_RERUN_INTERVAL)
    if not samples or first_seen is None:
        raise BenchError("The Webcam page never reported a frame read from the fake camera.")
    session_cores = (process_cpu_seconds(pid) - cpu_at_first) / max(time.perf_counter() - first_seen, 1e-6)
    # The readout's FPS averages the last 30 frames: take the last value, once the first frames have passed.
    return {
        "webcam_fps": samples[-1][0],
        "webcam_read_ms": milliseconds([milliseconds for _, milliseconds in samples], scale=1),
        "webcam_samples": len(samples),
        "webcam_session_cores": round(session_cores, 3),
        "camera_fps": CAMERA_FPS,
    }


def _press_video(page: Any, button: str) -> None:
    """Press START or STOP under the Webcam page's video (streamlit-webrtc draws them in its iframe)."""
    page.wait_for_selector("iframe", state="attached", timeout=120_000)
    page.frame_locator("iframe").first.get_by_role("button", name=button).click(timeout=120_000)


def _stroke(page: Any, strokes: list[list[tuple[float, float]]], left: float) -> None:
    """Pen strokes on Draw's canvas with the mouse, shifted `left` pixels from the canvas's left edge."""
    box = page.locator("canvas.upper-canvas").bounding_box()
    for points in strokes:
        page.mouse.move(box["x"] + left + points[0][0], box["y"] + 60 + points[0][1])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(box["x"] + left + x, box["y"] + 60 + y, steps=6)
        page.mouse.up()


def _settled(page: Any, selector: str) -> None:
    """Wait until `selector` shows and the page's script has finished running."""
    page.wait_for_selector(selector, timeout=120_000)
    page.wait_for_selector(IDLE, timeout=120_000)


def _stroke_cpu(page: Any, pid: int, cycles: int) -> dict[str, Any]:
    """The server's CPU per Draw cycle, on the page opened by `_draw_a_digit`: a 1 written and cleared, `cycles`
    times; then, on a canvas holding 717, a 1 written after them and undone. The server's idle CPU over the same
    time (its file watchers) is measured apart and taken off.
    """
    clear = page.locator(".st-key-draw_clear button")
    clear.click()
    _settled(page, EMPTY_CANVAS)
    idle_cpu, idle_wall = _cpu_while(pid, lambda: time.sleep(5.0))
    empty_cpu, empty_wall = _cpu_while(pid, lambda: _cycles(page, cycles, 40, "1", clear, EMPTY_CANVAS))
    for left, stroke in ((40, SEVEN), (170, ONE), (300, SEVEN)):
        _stroke(page, stroke, left)
    _settled(page, f"{ANSWER}:text-is('717')")
    undo = page.locator("button[title='Undo']").first
    several_cpu, several_wall = _cpu_while(pid, lambda: _cycles(page, cycles, 430, "7171", undo, f"{ANSWER}:text-is('717')"))
    per_second = idle_cpu / idle_wall
    return {
        "stroke_cycles": cycles,
        "idle_cpu_ms_per_s": round(1000 * per_second, 1),
        "stroke_cpu_ms": round(1000 * (empty_cpu - per_second * empty_wall) / cycles, 1),
        "stroke_cpu_gross_ms": round(1000 * empty_cpu / cycles, 1),
        "several_stroke_cpu_ms": round(1000 * (several_cpu - per_second * several_wall) / cycles, 1),
        "several_stroke_cpu_gross_ms": round(1000 * several_cpu / cycles, 1),
    }


def _cycles(page: Any, cycles: int, left: float, read: str, undo: Any, undone: str) -> None:
    """`cycles` times: a 1 written at `left` until Draw reads `read`, then `undo` clicked until `undone` shows."""
    for _ in range(cycles):
        _stroke(page, ONE, left)
        _settled(page, f"{ANSWER}:text-is('{read}')")
        undo.click()
        _settled(page, undone)


def _cpu_while(pid: int, work: Callable[[], object]) -> tuple[float, float]:
    """(CPU seconds the process used, wall seconds) while `work()` ran."""
    cpu, began = process_cpu_seconds(pid), time.perf_counter()
    work()
    return process_cpu_seconds(pid) - cpu, time.perf_counter() - began


def _evaluate_then_webcam_sessions(browser: Any, server: AppServer, sessions: int) -> dict[str, Any]:
    """Evaluate on the 10,000 test images in one tab, closed; then `sessions` tabs one after another, each reading
    the camera on Webcam until it shows a number, then stopped and closed. -> the server's RSS after each."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server.url}/evaluate", timeout=120_000)
    _settled(page, ".st-key-eval-metrics")
    page.close()
    time.sleep(2.0)
    after_evaluate = process_memory_mb(server.pid)[1]
    after: list[float] = []
    for _ in range(sessions):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.goto(f"{server.url}/webcam", timeout=120_000)
        _press_video(page, "START")
        page.wait_for_selector("text=frames per second read", timeout=120_000)
        _press_video(page, "STOP")
        _settled(page, "text=Press START and allow the camera.")
        context.close()
        time.sleep(2.0)
        after.append(process_memory_mb(server.pid)[1])
    return {"evaluate_mb": after_evaluate, "webcam_sessions_mb": after}
