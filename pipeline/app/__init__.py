"""The upload page (`make app PORT=8501`): people drop photos, see what each task's champion thinks, and correct it.

Streamlit, not Gradio: its front end is served from the wheel with its own fonts (Gradio's default theme pulls
Google Fonts), it has no share links to switch off, one switch turns its usage statistics off, and each visitor's
session runs in its own thread against one model loaded once (`st.cache_resource`). `page.py` is the Streamlit
script; `champion.py` is what it shows, in plain functions the tests reach without a browser; `__main__` starts it.
"""
