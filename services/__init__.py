"""The rules of Cartera. Services take (session, principal, ...) and never commit."""
