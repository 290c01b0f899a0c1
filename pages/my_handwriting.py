"""My handwriting: collect samples of each digit, teach a personal copy of the model in seconds, and see what changed."""

from pages.ui.routing import ensure_app_navigation

# First, before the heavy imports below: on a fresh server's first direct visit this reruns through app.py.
ensure_app_navigation()

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from core.data import REMEDY, mnist_available
from core.samples import MAX_PER_DIGIT, SampleError, SampleSet, SampleSetError, sample_input
from pages.ui import charts, handwriting, models
from pages.ui.text import literal

st.title("My handwriting")
st.caption(
    "Teach the model your own handwriting: write each digit a few times, then teach a personal copy of the model. "
    "Your samples and your personal model stay in this browser session; nobody else can see or load them."
)
samples = handwriting.samples()
counts = samples.counts()
job = handwriting.current_job()
busy = job is not None and job.busy
st.session_state.setdefault("hw_canvas_version", 0)

with st.container(key="my-handwriting"):
    st.subheader("1. Write each digit five times")
    behind = [digit for digit in range(10) if counts[digit] < handwriting.GOAL_PER_DIGIT]
    if "hw_digit" not in st.session_state or st.session_state.pop("hw_next", False):
        st.session_state["hw_digit"] = str(behind[0] if behind else 0)  # the first digit still short of five
    st.progress(sum(min(count, handwriting.GOAL_PER_DIGIT) for count in counts) / (10 * handwriting.GOAL_PER_DIGIT))
    st.caption("  ".join(f"**{digit}**: {counts[digit]}/{handwriting.GOAL_PER_DIGIT}" for digit in range(10)))
    digit = int(st.segmented_control("Write this digit", handwriting.DIGITS, key="hw_digit") or 0)
    with st.container(horizontal=True):
        canvas = st_canvas(
            stroke_width=18,
            stroke_color="#000000",
            background_color="#FFFFFF",
            width=240,
            height=240,
            drawing_mode="freedraw",
            return_image_data=True,
            key=f"hw_canvas_{st.session_state['hw_canvas_version']}",
        )
        if st.button(f"Keep as {digit}", type="primary", key="hw_add", disabled=canvas.image_data is None):
            try:
                if handwriting.add_sample(sample_input(canvas.image_data), digit):
                    st.session_state["hw_canvas_version"] += 1  # a fresh canvas for the next one
                    st.session_state["hw_next"] = samples.counts()[digit] >= handwriting.GOAL_PER_DIGIT
            except SampleError as error:
                st.session_state["hw_message"] = ("warning", f"Not kept: {error}. Write the digit larger and clearer.")
            st.rerun()
    handwriting.show_message()

    st.subheader(f"2. Your samples ({len(samples)}; at most {MAX_PER_DIGIT} per digit)")
    for label in range(10):
        indices = [index for index, value in enumerate(samples.labels) if value == label]
        if not indices:
            continue
        row = st.container(horizontal=True, key=f"hw_row_{label}")
        for index in indices:
            cell = row.container(width=70)
            cell.image(charts.pixels(samples.inputs[index], 2), caption=str(label), clamp=True)
            cell.button("✕", key=f"hw_remove_{index}", help="Remove this sample", on_click=samples.remove, args=(index,), disabled=busy)

    with st.expander("Keep your samples, or bring them back"):
        st.download_button(
            "Download samples (.zip of PNGs, folders 0 to 9)",
            samples.to_zip(),
            "my-digits.zip",
            disabled=not len(samples),
            key="hw_download",
        )
        upload = st.file_uploader("Upload a samples .zip", type=["zip"], key="hw_upload")
        if upload is not None and st.session_state.get("hw_upload_done") != upload.file_id:
            st.session_state["hw_upload_done"] = upload.file_id
            try:
                loaded = SampleSet.from_zip(upload.getvalue(), upload.name)
                samples.extend(loaded)
                st.session_state["hw_message"] = ("success", f"Added {len(loaded)} samples from {upload.name}.")
            except SampleSetError as error:
                st.session_state["hw_message"] = ("error", str(error))
            st.rerun()

    st.subheader("3. Teach the model")
    model = models.active_model()
    if len(samples):
        inputs, labels = samples.arrays()
        right = (model.recognizer.raw_probabilities(inputs).argmax(axis=1) == labels).mean()
        st.metric(f"{model.choice.label} reads your samples", f"{right:.0%}")
    if not mnist_available():
        st.info(f"Teaching replays MNIST so the model keeps reading it. {REMEDY}", icon=":material/dataset:")
    elif st.button("Teach the model", type="primary", icon=":material/school:", disabled=busy or len(samples) < 2, key="hw_teach"):
        if handwriting.start_teaching() is None:
            st.warning("Another visitor is teaching a model right now; this server teaches one at a time. Try again in a few seconds.")
        else:
            st.rerun()

    @st.fragment(run_every=0.5 if busy else None)
    def teaching_progress() -> None:
        current = handwriting.current_job()
        if current is None:
            return
        if current.result is not None and st.session_state.get("hw_recorded") is not current:
            handwriting.finish_teaching(current)  # the personal model becomes active as soon as it is saved
            st.rerun(scope="app")
        if current.busy:
            text = "Teaching your personal model…" if current.result is None else "Ready; now checking it on samples it was not taught…"
            st.progress(current.fraction, text=text)
        elif st.session_state.get("hw_shown") is not current:
            st.session_state["hw_shown"] = current
            st.rerun(scope="app")

    teaching_progress()
    if job is not None and job.error is not None:
        st.error(literal(job.error))
    if job is not None and job.result is not None:
        report = job.result.report
        with st.container(key="hw-result"):
            st.success(f"Your personal model is the active model now. {literal(report.summary())}.")
            columns = st.columns(3)
            if report.held_out_before is not None and report.held_out_after is not None:
                columns[0].metric(
                    "Samples it was not taught (cross-validation)",
                    f"{report.held_out_after:.0%}",
                    f"{(report.held_out_after - report.held_out_before) * 100:+.0f} points",
                )
            else:
                columns[0].metric("Samples it was not taught (cross-validation)", "measuring…" if job.busy else "too few samples")
            columns[1].metric(
                "Your samples", f"{report.samples_after:.0%}", f"{(report.samples_after - report.samples_before) * 100:+.0f} points"
            )
            if report.mnist_after is not None and report.mnist_before is not None:
                columns[2].metric(
                    "MNIST test", f"{report.mnist_after:.2%}", f"{(report.mnist_after - report.mnist_before) * 100:+.2f} points"
                )
            st.download_button(
                "Download your personal model (.keras, card included)",
                job.result.path.read_bytes() if job.result.path.exists() else b"",
                file_name=job.result.path.name,
                key="hw_model_download",
            )
