"""Home: what the app does, the active model, and a tour of the pages."""

from pages.ui.routing import ensure_app_navigation

# First, before the heavy imports below: on a fresh server's first direct visit this reruns through app.py.
ensure_app_navigation()

import streamlit as st

from pages.ui import models

st.title("✍️ Digit Lab")
st.markdown(
    "Handwritten digit recognition you can **see, test and retrain**: a convolutional network trained on the "
    "70,000 MNIST digits that also reads *real* handwriting: strokes drawn with a mouse or a finger, a photo of "
    "a page, or digits held up to a webcam. It finds each digit, crops and centres it the way MNIST was prepared, "
    "and says *no digit* instead of guessing when it is unsure."
)

# A page link shows its label on one line and cuts the rest off, so each description is a caption below its link.
TOUR = [
    (
        "pages/draw.py",
        "Draw",
        ":material/draw:",
        "Write a digit (or a number) and watch the prediction after every stroke, "
        "with the 28x28 image the network sees and what drove its decision.",
    ),
    (
        "pages/webcam.py",
        "Webcam",
        ":material/videocam:",
        "Hold digits written on paper up to your camera; they are read live, boxed and labelled on the video.",
    ),
    (
        "pages/train.py",
        "Train",
        ":material/model_training:",
        "Set every hyperparameter, train a new network with live charts, stop at any moment, compare your runs.",
    ),
    (
        "pages/evaluate.py",
        "Evaluate",
        ":material/analytics:",
        "Accuracy on the 10,000 MNIST test digits, the confusion matrix, the digits it gets wrong, and two models side by side.",
    ),
]

left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader("Tour")
    for page, name, icon, description in TOUR:
        st.page_link(page, label=f"**{name}**", icon=icon)
        st.caption(description)
with right, st.container(key="home-model"):
    st.subheader("The model reading your digits")
    st.markdown(models.plain_sentence(models.active().card))
    st.caption("Its card, with every setting it was trained with, is in the sidebar, where you can also switch models or upload your own.")
