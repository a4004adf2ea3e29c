"""The permission matrix's table: its words (table.py) and one rows_<app>.py per app that
serves routes. tests/security/test_matrix.py runs the ROWS of every rows_*.py module here."""
