"""Streamlit helpers shared by the pages: the model sidebar, charts, controls and routing (all Streamlit code outside pages)."""
