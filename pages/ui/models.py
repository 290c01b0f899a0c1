"""The active model (shipped, trained this session, or uploaded), loaded once per process, and the sidebar card."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import streamlit as st

from core.modelfile import MAX_MODEL_BYTES, SHIPPED_MODEL, ModelCard, ModelFileError, check_model_file, read_card
from core.wording import duration, plural
from pages.ui import quotas, sessions
from pages.ui.text import literal

if TYPE_CHECKING:
    import keras

    from core.adversarial import Fooler
    from core.explain import Explainer
    from core.inference import Recognizer

SHIPPED_LABEL = "Shipped: mnist_cnn.keras"
Tool = TypeVar("Tool")


@dataclass(frozen=True)
class ModelChoice:
    label: str
    path: str
    card: ModelCard


ModelKey = tuple[str, float]  # (path, modification time): a new file saved under the same path is another model


@dataclass(frozen=True)
class LoadedModel:
    """A model as pages use it: what was chosen, the key its cached results go under, and its recognizer."""

    choice: ModelChoice
    key: ModelKey
    recognizer: Recognizer

    def explainer(self) -> Explainer:
        """Grad-CAM, saliency and feature maps for this model; raises ValueError for a model without convolutions."""
        from core.explain import Explainer

        return self._with_gradients(Explainer, _load_explainer, "models_explainers")

    def fooler(self) -> Fooler:
        """Changes that fool this model, with gradients through it (Draw's "Fool it")."""
        from core.adversarial import Fooler

        return self._with_gradients(Fooler, _load_fooler, "models_foolers")

    def _with_gradients(self, make: Callable[[keras.Model], Tool], shared: Callable[[ModelKey, Recognizer], Tool], slot: str) -> Tool:
        """A tool that needs this model's gradients: shared by every session for a model they all see, and kept in
        `slot` of this session for its own model, one at a time (each holds its model's graph)."""
        if not sessions.owns(self.choice.path):
            return shared(self.key, self.recognizer)
        own: dict[ModelKey, Tool] = st.session_state.setdefault(slot, {})  # goes with the session
        if self.key not in own:
            own.clear()
            own[self.key] = make(self.recognizer.model)
        return own[self.key]


def model_key(choice: ModelChoice) -> ModelKey:
    return choice.path, os.path.getmtime(choice.path)


@st.cache_resource(max_entries=8, show_spinner="Loading the model (TensorFlow starts on first use)…")
def _load_recognizer(path: str, modified: float) -> Recognizer:
    """One Recognizer per model file and version, shared by every session; never mutated by pages."""
    from core.inference import Recognizer  # TensorFlow is imported on first use, not at app start-up

    return Recognizer.load(path)


@st.cache_resource(max_entries=8)
def _load_explainer(key: ModelKey, _recognizer: Recognizer) -> Explainer:
    from core.explain import Explainer

    return Explainer(_recognizer.model)


@st.cache_resource(max_entries=8)
def _load_fooler(key: ModelKey, _recognizer: Recognizer) -> Fooler:
    from core.adversarial import Fooler

    return Fooler(_recognizer.model)


@st.cache_data(max_entries=64)
def _card(path: str, modified: float) -> ModelCard:
    return read_card(path)


def _session_models() -> dict[str, ModelChoice]:
    return st.session_state.setdefault("models", {})


def choices() -> dict[str, ModelChoice]:
    shipped = ModelChoice(SHIPPED_LABEL, str(SHIPPED_MODEL), _card(str(SHIPPED_MODEL), SHIPPED_MODEL.stat().st_mtime))
    # A session's files are removed a minute after it disconnects; one that comes back later has the shipped model.
    kept = {label: choice for label, choice in _session_models().items() if os.path.exists(choice.path)}
    return {SHIPPED_LABEL: shipped, **kept}


def add_model(label: str, path: str | os.PathLike[str], card: ModelCard, *, make_active: bool = True) -> str:
    """Offer a model in the sidebar, and make it the active one if `make_active`; returns the label actually used."""
    models = _session_models()
    unique, count = label, 2
    while unique in models or unique == SHIPPED_LABEL:
        unique, count = f"{label} ({count})", count + 1
    models[unique] = ModelChoice(unique, str(path), card)
    if make_active:
        activate(unique)
    return unique


def activate(label: str) -> None:
    """Make the model offered as `label` the active one, from the next run of the app on."""
    # NOTE: the selectbox owning "models_active" may already be drawn in this run, and Streamlit forbids changing a
    # drawn widget's value; the sidebar applies this at the start of the next run (callers rerun the app).
    st.session_state["models_pending"] = label


def active() -> ModelChoice:
    options = choices()
    label = st.session_state.get("models_pending") or st.session_state.get("models_active", SHIPPED_LABEL)
    return options.get(label, options[SHIPPED_LABEL])


def loaded(choice: ModelChoice) -> LoadedModel:
    """The shared recognizer of the shipped model, or this session's own for a model it uploaded or trained."""
    key = model_key(choice)
    if not sessions.owns(choice.path):
        return LoadedModel(choice, key, _load_recognizer(*key))
    # NOTE: kept in the session's state, not the server's cache, so it goes when the session goes.
    own: dict[ModelKey, Recognizer] = st.session_state.setdefault("models_recognizers", {})
    if key not in own:
        from core.inference import Recognizer

        own[key] = Recognizer.load(choice.path)
        while len(own) > sessions.MAX_LOADED_MODELS:  # the oldest loaded goes; it loads again if chosen again
            del own[next(iter(own))]
    return LoadedModel(choice, key, own[key])


def active_model() -> LoadedModel:
    """The model chosen in the sidebar, loaded: what Draw, Webcam and a photo are read with."""
    return loaded(active())


def _save_upload(data: bytes, name: str) -> Path:
    """Keep an uploaded model in this session's folder under its content hash (atomic write)."""
    folder = sessions.session_folder()
    suffix = Path(name).suffix.lower()
    target = folder / f"{hashlib.sha256(data).hexdigest()[:16]}{suffix}"
    if not target.exists():
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        partial.write_bytes(data)
        os.replace(partial, target)
    return target


def _handle_upload() -> None:
    """The sidebar's upload becomes the active model; its outcome is said in the sidebar."""
    outcome = take_upload("models_upload", make_active=True)
    if outcome is not None:
        st.session_state["models_message"] = outcome[:2]


def take_upload(key: str, *, make_active: bool) -> tuple[str, str, str | None] | None:
    """Check and offer the model uploaded with the file_uploader `key`, once per file.

    Returns None when there is nothing new, else (kind, message, label): kind is "success" or "error", the message
    names the visitor's file, and label is the model's name in the lists (None if it was refused).
    """
    upload = st.session_state.get(key)
    if upload is None or st.session_state.get(f"{key}_done") == upload.file_id:
        return None
    st.session_state[f"{key}_done"] = upload.file_id
    refusal = quotas.upload_refusal()
    if refusal is not None:
        return "error", f"{upload.name}: {refusal[0].lower()}{refusal[1:]}", None
    try:
        path = _checked_upload(upload.getvalue() if upload.size <= MAX_MODEL_BYTES else None, upload.name)
        label = add_model(f"Uploaded: {upload.name}", path, read_card(path), make_active=make_active)
        return "success", f"Loaded {upload.name}.", label
    except ModelFileError as error:
        return "error", str(error), None
    except OSError as error:  # the user models folder cannot be written: a server problem, said in one sentence
        return "error", f"{upload.name}: could not be stored on the server ({error.strerror or error}).", None


def _checked_upload(data: bytes | None, name: str) -> Path:
    """Store an uploaded model and load it once; raise ModelFileError naming the file as the user knows it.

    `data` is None when the upload is over the size limit, so that it is never read into memory.
    """
    if data is None:
        raise ModelFileError(f"{name}: over the {MAX_MODEL_BYTES // 2**20} MB limit for a digit model.")
    path = _save_upload(data, name)
    try:
        check_model_file(path)
        loaded(ModelChoice(name, str(path), ModelCard(name=name)))  # loads and validates
    except Exception as error:  # NOTE: an uploaded file is untrusted input; whatever fails, the user gets one sentence
        path.unlink(missing_ok=True)  # a refused file is not kept (the same bytes are refused every time)
        # Core names the stored copy (its content hash); the user knows the file by the name they uploaded.
        message = str(error).replace(path.name, name) if isinstance(error, ModelFileError) else ""
        if not message.startswith(name):
            message = f"{name}: cannot be used as a digit model ({message or type(error).__name__})."
        raise ModelFileError(message) from error
    return path


def plain_sentence(card: ModelCard) -> str:
    """The card in words a student reads first: how often it is right, what it learned from, what its confidence means."""
    accuracy, tested = card.metrics.get("test_accuracy"), int(card.metrics.get("test_n", 0))
    if accuracy is None:
        sentences = ["This model has not been tested on the MNIST test digits."]
    elif tested:
        wrong = round((1 - accuracy) * tested)
        sentences = [f"It reads {accuracy:.2%} of the {tested:,} MNIST test digits right: it gets {plural(wrong, 'digit')} wrong."]
    else:
        sentences = [f"It reads {accuracy:.2%} of the MNIST test digits right."]
    config = card.train_config
    if config is None:
        sentences.append("It was made outside this app, so its card does not say how it was trained.")
    else:
        images = config.train_size - round(config.train_size * config.validation_split)
        passes = f"{plural(card.epochs_completed, 'pass', 'passes')} over them"
        time_taken = f", in {duration(card.training_seconds)}" if card.training_seconds else ""
        sentences.append(f"It learned from {images:,} handwritten digits, {passes}{time_taken}.")
        if config.augmentations:
            sentences.append("It also saw them rotated, slanted and redrawn, so that it copes with messier writing.")
    if card.partial:
        sentences.append("Its training was stopped early, so it is only partly trained.")
    if card.temperature != 1.0:
        sentences.append("Its confidence is calibrated: when it says 90%, it is right about 9 times in 10.")
    return " ".join(sentences)


def show_card(card: ModelCard) -> None:
    """Accuracy, size and how the model was trained: a sentence first, the settings for the curious."""
    accuracy = card.metrics.get("test_accuracy")
    st.metric("MNIST test accuracy", f"{accuracy:.2%}" if accuracy is not None else "unknown")
    st.caption(literal(card.summary()))
    with st.expander("How it was trained"):
        st.markdown(plain_sentence(card))
        config = card.train_config
        if config is not None:
            st.caption("Every setting it was trained with:")
            st.json(config.to_dict(), expanded=False)
            st.caption(
                f"{plural(card.epochs_completed, 'epoch')} in {card.training_seconds:.0f} s; "
                f"calibration temperature {card.temperature:.2f} (its scores are divided by this before the softmax)"
            )
    if card.notes:
        st.caption(literal(card.notes))


def sidebar() -> None:
    """Model picker, the active model's card, and an uploader for .keras/.h5 files."""
    sessions.start_sweeping()
    _handle_upload()
    with st.sidebar:
        st.subheader("Model")
        options = choices()
        pending = st.session_state.pop("models_pending", None)
        if pending in options:
            st.session_state["models_active"] = pending
        if st.session_state.get("models_active") not in options:
            st.session_state["models_active"] = SHIPPED_LABEL
        st.selectbox("Active model", list(options), key="models_active", help="Used by Draw, Webcam and Evaluate.")
        show_card(active().card)
        st.file_uploader("Use your own model (.keras or .h5)", type=["keras", "h5"], key="models_upload")
        message = st.session_state.pop("models_message", None)
        if message:
            getattr(st, message[0])(literal(message[1]))  # it names the visitor's file
