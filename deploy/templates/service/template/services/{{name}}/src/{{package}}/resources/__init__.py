"""One flask-restful Resource module per noun."""
