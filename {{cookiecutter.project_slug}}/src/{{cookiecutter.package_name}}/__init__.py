"""{{ cookiecutter.project_name }}: a Litestar service that verifies JWTs against the issuer's JWKS."""
