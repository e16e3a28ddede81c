"""The local web app (python app.py): its page, each photo through the inference floor, its temporary folder."""
