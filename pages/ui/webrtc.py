"""ICE (STUN/TURN) configuration for the live webcam, from the environment or Streamlit secrets."""

from __future__ import annotations

import json
import os
from typing import Any

import streamlit as st

# streamlit-webrtc fetches TURN credentials itself when one of these pairs is set (env vars, or root-level
# secrets, which Streamlit exports as env vars).
TURN_CREDENTIALS = (
    ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"),
    ("CLOUDFLARE_TURN_KEY_ID", "CLOUDFLARE_TURN_KEY_API_TOKEN"),
    ("HF_TOKEN", "HF_TOKEN"),
)
ICE_SERVERS_VARIABLE = "WEBRTC_ICE_SERVERS"  # a JSON list of RTCIceServer dicts, for a TURN server of your own
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def _setting(name: str) -> str | None:
    value = os.environ.get(name)
    if value:
        return value
    try:
        secret = st.secrets.get(name)
    except Exception:  # no secrets.toml: a normal local run
        return None
    return str(secret) if secret else None


def on_this_computer() -> bool:
    """The browser reached the app at a local address (`streamlit run` on this computer), where live video needs no
    TURN server. An unknown host (no request headers) counts as local."""
    host = st.context.headers.get("Host", "") if st.context.headers else ""
    return not host or host.rsplit(":", 1)[0].lower() in LOCAL_HOSTS


def turn_configured() -> bool:
    return bool(_setting(ICE_SERVERS_VARIABLE)) or any(_setting(first) and _setting(second) for first, second in TURN_CREDENTIALS)


def rtc_configuration() -> dict[str, Any] | None:
    """None lets streamlit-webrtc fetch Twilio/Cloudflare/HF TURN servers; an empty list serves this machine and LAN."""
    explicit = _setting(ICE_SERVERS_VARIABLE)
    if explicit:
        return {"iceServers": json.loads(explicit)}
    for first, second in TURN_CREDENTIALS:
        if _setting(first) and _setting(second):
            os.environ.setdefault(first, _setting(first) or "")
            os.environ.setdefault(second, _setting(second) or "")
            return None
    # NOTE: no STUN either: with no internet a STUN lookup only delays the connection; host candidates suffice
    # for a browser on the same machine or network.
    return {"iceServers": []}
