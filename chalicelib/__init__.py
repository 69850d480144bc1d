"""csv-pipeline: the code Chalice packages beside app.py."""
