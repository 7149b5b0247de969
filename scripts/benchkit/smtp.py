"""``mail_sync_testing.SmtpServer`` in a child process (started before Odoo is
imported), so that its work does not compete with the measured process for
the interpreter lock."""

import multiprocessing

from .addon_lib import import_testing


class RemoteSmtp:
    """The SMTP server of a child process, with one user ``login``/``password``;
    its host, port, certificate fingerprint, and the counts a benchmark reads."""

    def __init__(self, login, password):
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, login, password), daemon=True
        )
        self._process.start()
        self.host, self.ssl_port, self.cert_fingerprint = self._conn.recv()

    def _ask(self, command):
        self._conn.send(command)
        return self._conn.recv()

    @property
    def received(self):
        return self._ask("received")

    @property
    def connection_count(self):
        return self._ask("connections")

    def clear_messages(self):
        self._ask("clear")

    def stop(self):
        if self._process.is_alive():
            self._conn.send("stop")
            self._process.join(10)


def _serve(conn, login, password):
    SmtpServer = import_testing().SmtpServer  # the test harness, without Odoo

    with SmtpServer() as smtp:
        smtp.add_user(login, password)
        conn.send((smtp.host, smtp.ssl_port, smtp.cert_fingerprint))
        while (command := conn.recv()) != "stop":
            if command == "received":
                conn.send(len(smtp.messages))
            elif command == "connections":
                conn.send(smtp.connection_count)
            elif command == "clear":
                smtp.clear_messages()
                conn.send(True)
