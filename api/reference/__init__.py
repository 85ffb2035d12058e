"""The interactive API reference (Swagger UI) at /schema/swagger, served with its own assets."""
