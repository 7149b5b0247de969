"""The test Dovecot's settings for benchmarks holding thousands of IDLE
connections (``bench_latency.py``, ``bench_listener_memory.py``).

One imap-login process serves many TLS clients (Dovecot's "high-performance"
mode), and there are enough imap processes. Every imap process runs as one user
(nobody), whose 128 inotify instances (the kernel's default
fs.inotify.max_user_instances) serve the first IDLEs only: the others check
their folder every mailbox_idle_check_interval (30 s by default, which the first
1,000-mailbox run measured as its latency): 1 s here."""

IDLE_FLEET_LIMITS = """
mailbox_idle_check_interval = 1 secs
default_client_limit = 20000
default_process_limit = 5000
service imap-login {
  service_count = 0
  client_limit = 5000
  process_min_avail = 2
}
service imap {
  process_limit = 5000
}
"""
