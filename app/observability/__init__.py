"""Operations: structured logs with request ids, Prometheus metrics, the request middleware."""
