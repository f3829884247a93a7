"""`forge serve`: the REST API over the repo."""
