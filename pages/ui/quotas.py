"""What one visitor may start: uploads, trainings and evaluations per session, and whether the memory is there."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from core import limits

if TYPE_CHECKING:
    import keras

    from core.config import TrainConfig


class Refused(Exception):
    """Raised where this session may not start a computation now; the message says why in one sentence."""


def _limit(allowance: limits.Allowance) -> limits.RateLimit:
    """This session's rate limit for one kind of action, kept in its session state (a new tab is a new session)."""
    return st.session_state.setdefault(f"quotas_{allowance.what}", allowance.limit())


def _take(allowance: limits.Allowance) -> str | None:
    """Count one action of this session, or say when it may try again (None: allowed and counted)."""
    waiting = _limit(allowance).take()
    return allowance.refusal(waiting) if waiting else None


def upload_refusal() -> str | None:
    """Why this session may not upload one more model now, or None (and the upload is counted)."""
    return _take(limits.UPLOADS)


def training_refusal(config: TrainConfig) -> str | None:
    """Why this training may not start (too many trainings, or not enough memory), or None (and it is counted)."""
    waiting = _limit(limits.TRAININGS).wait()
    if waiting:
        return limits.TRAININGS.refusal(waiting)
    try:
        refusal = limits.training_refusal(limits.estimate_training(config))
    except ValueError as error:  # a network the config cannot build: the builder's own sentence
        return str(error)
    return refusal or _take(limits.TRAININGS)


def evaluation_refusal(model: keras.Model, count: int) -> str | None:
    """Why evaluating `model` on `count` test images may not start now, or None (and it is counted)."""
    waiting = _limit(limits.EVALUATIONS).wait()
    if waiting:
        return limits.EVALUATIONS.refusal(waiting)
    return limits.evaluation_refusal(limits.evaluation_bytes(model, count)) or _take(limits.EVALUATIONS)
