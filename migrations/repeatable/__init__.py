"""One .sql file per SQL function, view and trigger (storage/repeatables.py applies them)."""
