"""A real named (Debian's bind9) of the test's own: loopback, high ports, its own rndc key, files in tmp.

The test writes named.conf; it includes the configuration that the app renders into
`config_dir` (zones.conf, forwarders.conf, logging.conf at the top level, response-policy.conf
inside options). Before named starts, the files for an empty database are rendered with the same
functions the app uses, so that named can load them and the app's start-up render finds them
unchanged.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
from conftest import require_binary

from hybrid_dns.dns import render


def free_udp_tcp_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (named listens on both)."""
    for _ in range(50):
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


class NamedServer:
    def __init__(self, workdir: Path, config_dir: Path, query_log: Path | None = None, rpz_zone: str = "rpz.local"):
        self.named = require_binary("named")
        self.rndc = require_binary("rndc")
        self.confgen = require_binary("rndc-confgen")
        self.workdir = workdir.absolute()
        self.config_dir = config_dir.absolute()
        self.query_log = query_log.absolute() if query_log else None
        self.rpz_zone = rpz_zone
        self.port = free_udp_tcp_port()
        self.ctl_port = free_udp_tcp_port()
        self.conf = self.workdir / "named.conf"
        self.rndc_conf = self.workdir / "rndc.conf"
        self.log = self.workdir / "named.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def reload_command(self) -> str:
        return f"{self.rndc} -c {self.rndc_conf} -s 127.0.0.1 -p {self.ctl_port} reload"

    def prepare(self) -> NamedServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        key = self.workdir / "rndc.key"
        subprocess.run([self.confgen, "-a", "-c", str(key), "-k", "rndc-key"], check=True, capture_output=True)
        self.rndc_conf.write_text(
            f'include "{key}";\noptions {{ default-key "rndc-key"; default-server 127.0.0.1; '
            f"default-port {self.ctl_port}; }};\n"
        )
        cfg = self.config_dir
        self.conf.write_text(
            f"""include "{key}";
options {{
    directory "{self.workdir}";
    pid-file "{self.workdir}/named.pid";
    session-keyfile "{self.workdir}/session.key";
    managed-keys-directory "{self.workdir}";
    listen-on port {self.port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion yes;
    allow-recursion {{ 127.0.0.1; }};
    dnssec-validation no;
    notify no;
    include "{cfg / render.RESPONSE_POLICY_CONF}";
}};
controls {{ inet 127.0.0.1 port {self.ctl_port} allow {{ 127.0.0.1; }} keys {{ "rndc-key"; }}; }};
include "{cfg / render.LOGGING_CONF}";
include "{cfg / render.ZONES_CONF}";
include "{cfg / render.FORWARDERS_CONF}";
"""
        )
        # The files of an empty database, exactly as the app renders them.
        rendered = render.render_all(
            [], [], [], config_dir=cfg, rpz_zone=self.rpz_zone, rpz_serial_value=1, query_log=self.query_log
        )
        for rel, text in rendered.files.items():
            path = cfg / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return self

    def start(self, timeout: float = 20) -> NamedServer:
        # -f, not -g: with -g named ignores the logging statement, and the RPZ log comes from it.
        handle = (self.workdir / "named.out").open("ab")
        self.proc = subprocess.Popen(
            [self.named, "-f", "-L", str(self.log), "-c", str(self.conf)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("named exited:\n" + self.log.read_text()[-4000:])
            try:
                # The RPZ zone answers only once named has loaded its configuration.
                answer = self.query_sync(f"{self.rpz_zone}.", "SOA", timeout=0.5)
                if answer.rcode() in (dns.rcode.NOERROR, dns.rcode.REFUSED):
                    return self
            except (OSError, dns.exception.Timeout):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("named did not answer:\n" + self.log.read_text()[-4000:])

    def query_sync(self, name: str, rdtype: str, timeout: float = 2) -> dns.message.Message:
        return dns.query.udp(dns.message.make_query(name, rdtype), "127.0.0.1", port=self.port, timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""
