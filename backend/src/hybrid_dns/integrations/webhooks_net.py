"""Where a webhook may be sent, and one delivery attempt over HTTP.

Safe by default: only `http` and `https` URLs, without user name or password; every address the
host name resolves to must be a public one (no loopback, link-local, private, unique-local,
shared, multicast, unspecified or reserved address, nor an IPv4 one of those mapped into IPv6),
unless WEBHOOK_ALLOW_PRIVATE_NETWORKS is set. The name is resolved once per attempt and the
connection made to the address that was checked (the Host header and, for https, the TLS server
name carry the name), so a name cannot resolve to a public address for the check and to a private
one for the connection. Redirects are not followed (a 3xx is a failure); at most 4 KiB of the
answer's body is read. The whole attempt, name resolution included, has one deadline.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import certifi
import httpx

MAX_URL_LENGTH = 2048
MAX_RESPONSE_BYTES = 4096
EXCERPT_CHARS = 1024
USER_AGENT = "hybrid-dns-webhooks/1"

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Outcome = Literal["success", "failure", "timeout"]

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


class UrlRefused(ValueError):
    """A URL a webhook may not have; the message says why, in words fit to show."""


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    scheme: str  # http | https
    host: str  # lower-case ASCII name, or an IP address without brackets
    port: int
    path: str  # path and query, at least "/"
    ip: IpAddress | None  # the host, when it is an address

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if isinstance(self.ip, ipaddress.IPv6Address) else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def address_refusal(ip: IpAddress) -> str | None:
    """Why a webhook may not be sent to this address by default, or None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if mapped is not None:
            reason = address_refusal(mapped)
            if reason is not None:
                return reason
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "an unspecified address"
    if isinstance(ip, ipaddress.IPv6Address) and ip in _UNIQUE_LOCAL:
        return "a unique-local address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "not a public address"
    return None


_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")


def check_url(url: str, allow_private: bool) -> Target:
    """The URL, checked and taken apart; `UrlRefused` says what is wrong with it.

    Host names are checked for form here; the addresses they resolve to are checked at each
    attempt (`resolve`). `localhost` and names under `.localhost` are refused by name (they are
    loopback by definition, RFC 6761).
    """
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"must be at most {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise UrlRefused("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlRefused("is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlRefused("must start with http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("must not carry a user name or password")
    if parts.fragment or url.endswith("#"):
        raise UrlRefused("must not have a #fragment")
    raw_host = parts.hostname
    if not raw_host:
        raise UrlRefused("must name a host")
    if port == 0:
        raise UrlRefused("port must be between 1 and 65535")
    if "%" in raw_host:
        raise UrlRefused("host must not have an IPv6 zone or percent-encoding")
    ip: IpAddress | None
    try:
        ip = ipaddress.ip_address(raw_host)
        host = str(ip)
    except ValueError:
        ip = None
        host = _host_name(raw_host)
    if not allow_private:
        if ip is not None:
            reason = address_refusal(ip)
            if reason is not None:
                raise UrlRefused(f"{host} is {reason}; only public addresses are allowed")
        elif host == "localhost" or host.endswith(".localhost"):
            raise UrlRefused(f"{host} is a loopback name; only public addresses are allowed")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme, host, port or (443 if scheme == "https" else 80), path, ip)


def _host_name(raw: str) -> str:
    name = raw.rstrip(".")
    try:
        ascii_name = name.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise UrlRefused("host is not a valid name") from None
    if not ascii_name or len(ascii_name) > 253:
        raise UrlRefused("host is not a valid name")
    if not all(_LABEL.match(label) for label in ascii_name.split(".")):
        raise UrlRefused("host is not a valid name")
    if re.fullmatch(r"[0-9.]+", ascii_name):
        raise UrlRefused("host is not a valid IPv4 address")  # 127.1, 0x7f.1 style forms are not taken
    return ascii_name


async def resolve(target: Target) -> list[IpAddress]:
    """Every address the host resolves to (the address itself for an IP literal), first answer first."""
    if target.ip is not None:
        return [target.ip]
    infos = await asyncio.get_running_loop().getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    out: list[IpAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in out:
            out.append(address)
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class Attempt:
    outcome: Outcome
    duration: float  # seconds
    status_code: int | None = None
    # url_refused | address_refused | dns | connect | tls | timeout | redirect | http_status | protocol
    error_kind: str | None = None
    error: str | None = None  # in our words, fit to show an admin
    excerpt: str | None = None  # the start of the answer's body

    @property
    def ok(self) -> bool:
        return self.outcome == "success"


def _attempt(began: float, outcome: Outcome, **fields: Any) -> Attempt:
    return Attempt(outcome, time.monotonic() - began, **fields)


class Sender:
    """Sends one delivery attempt; never raises (every failure is an `Attempt`)."""

    def __init__(self, timeout: float, allow_private: bool) -> None:
        self.timeout = timeout
        self.allow_private = allow_private
        # One TLS context for every attempt: loading the CA bundle costs milliseconds, making a client does not.
        self._ssl = ssl.create_default_context(cafile=certifi.where())

    def client(self) -> httpx.AsyncClient:
        """A client for one endpoint's batch of attempts: its connection is kept between them. (Not
        shared between endpoints: connections are made to checked addresses, each with its own name.)"""
        return httpx.AsyncClient(
            verify=self._ssl,
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: the connection goes to the checked address
            timeout=httpx.Timeout(self.timeout),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )

    async def send(
        self, url: str, headers: Mapping[str, str], body: bytes, client: httpx.AsyncClient | None = None
    ) -> Attempt:
        """One attempt, over `client`'s connection if given (else a connection of its own)."""
        began = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                try:
                    target = check_url(url, self.allow_private)
                except UrlRefused as exc:
                    return _attempt(began, "failure", error_kind="url_refused", error=f"URL refused: {exc}")
                try:
                    addresses = await resolve(target)
                except (OSError, UnicodeError):
                    return _attempt(began, "failure", error_kind="dns", error=f"could not resolve {target.host}")
                if not addresses:
                    return _attempt(began, "failure", error_kind="dns", error=f"{target.host} has no address")
                if not self.allow_private:
                    for address in addresses:
                        reason = address_refusal(address)
                        if reason is not None:
                            message = (
                                f"{target.host} resolves to {address}, {reason}; only public addresses are allowed"
                            )
                            return _attempt(began, "failure", error_kind="address_refused", error=message)
                if client is not None:
                    return await self._post(client, began, target, addresses[0], headers, body)
                async with self.client() as own:
                    return await self._post(own, began, target, addresses[0], headers, body)
        except TimeoutError:
            return _attempt(began, "timeout", error_kind="timeout", error=f"no answer within {self.timeout:g} s")

    async def _post(
        self,
        client: httpx.AsyncClient,
        began: float,
        target: Target,
        address: IpAddress,
        headers: Mapping[str, str],
        body: bytes,
    ) -> Attempt:
        host = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
        url = f"{target.scheme}://{host}:{target.port}{target.path}"
        extensions = {"sni_hostname": target.host} if target.scheme == "https" and target.ip is None else {}
        request_headers = {
            **headers,
            "Host": target.host_header,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        received = bytearray()
        try:
            async with client.stream(
                "POST", url, content=body, headers=request_headers, extensions=extensions
            ) as response:
                async for chunk in response.aiter_raw():
                    received += chunk
                    if len(received) >= MAX_RESPONSE_BYTES:
                        break
                status = response.status_code
        except httpx.TimeoutException:
            return _attempt(began, "timeout", error_kind="timeout", error=f"no answer within {self.timeout:g} s")
        except httpx.ConnectError as exc:
            kind, message = _connect_failure(exc)
            return _attempt(began, "failure", error_kind=kind, error=message)
        except httpx.HTTPError:
            message = "the connection failed or the answer was not HTTP"
            return _attempt(began, "failure", error_kind="protocol", error=message)
        except (OSError, ssl.SSLError):
            return _attempt(began, "failure", error_kind="connect", error="the connection failed")
        excerpt = bytes(received[:MAX_RESPONSE_BYTES]).decode("utf-8", "replace")[:EXCERPT_CHARS] or None
        if 200 <= status < 300:
            return _attempt(began, "success", status_code=status, excerpt=excerpt)
        if 300 <= status < 400:
            message = f"answered {status}, a redirect: redirects are not followed"
            return _attempt(began, "failure", status_code=status, error_kind="redirect", error=message, excerpt=excerpt)
        message = f"answered {status}"
        return _attempt(began, "failure", status_code=status, error_kind="http_status", error=message, excerpt=excerpt)


def _connect_failure(exc: BaseException) -> tuple[str, str]:
    """The kind of a failed connection, from the exceptions it chained (never their text)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return "tls", "the TLS certificate was not accepted for this host"
        if isinstance(seen, ssl.SSLError):
            return "tls", "the TLS handshake failed"
        if isinstance(seen, ConnectionRefusedError):
            return "connect", "connection refused"
        if isinstance(seen, ConnectionResetError):
            return "connect", "connection reset"
        seen = seen.__cause__ or seen.__context__
    return "connect", "could not connect"
