"""gunicorn settings for dalad in production (README: Production). Each may be overridden on the
command line or with GUNICORN_CMD_ARGS."""
import os

bind = os.environ.get("DALAD_BIND", "0.0.0.0:5000")
workers = int(os.environ.get("DALAD_WORKERS", "2"))  # processes: about one per core
threads = int(os.environ.get("DALAD_THREADS", "8"))  # requests in flight per process
worker_class = "gthread"
timeout = 60  # a worker silent this long is killed and replaced
graceful_timeout = 30  # time a worker gets to finish its requests on restart
keepalive = 5
max_requests = 2000  # replace each worker now and then (memory)
max_requests_jitter = 200
limit_request_line = 8190  # bytes of the request line
limit_request_fields = 100  # headers
limit_request_field_size = 8190
forwarded_allow_ips = os.environ.get("DALAD_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
