"""HTTP endpoints served by each worker (Faust's own web server)."""
