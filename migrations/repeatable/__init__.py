"""One .sql file per SQL function, view and trigger (storage/db/repeatables.py applies them)."""
