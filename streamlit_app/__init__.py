"""The Streamlit app (`streamlit run streamlit_app/server.py`); sign_in.py is what the command line imports."""
