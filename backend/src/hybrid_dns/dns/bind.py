"""BIND9 deployment: render zones, the RPZ zone and forwarders; check; reload; announce it.

Interface used by the rest of the app: `await deployer.start()`, `await deployer.close()`, and
`deployer.request_reload(zones, reason)`, which the DNS API calls after a committed change.

One background task does the work. Requests within BIND_RELOAD_DEBOUNCE of each other (trailing,
capped at `debounce_max`) merge into one cycle, their zones unioned:

1. read zones, records, RPZ rules and forwarders from the database and render every file (render.py);
2. compare with what is in BIND_CONFIG_DIR; only files whose content changed are staged, in
   `<dir>/.staging`, and checked there: named-checkzone for each changed zone file and
   named-checkconf on a small config including the snippets (each when the program is on PATH);
3. if the checks pass, move the staged files into place (atomic rename) and run
   BIND_RELOAD_COMMAND (shlex-split, no shell, with a timeout); an empty command renders only;
4. emit one `bind_reload` {zones, success, applied, duration_ms, error, reason, changed, requests},
   and a `health_alert` when the cycle failed.

A failed check leaves the files in place untouched, so named (and a named restarted later) keeps
the last good configuration. The start-up cycle renders and reloads without an event when it works.
When BIND_QUERY_LOG is set, named's RPZ log is followed and each blocked query becomes a
`threat_detected` event (rpzlog.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..config import Settings
from ..db import Database
from ..models import Forwarder, Record, RpzRule, Zone
from ..realtime.service import WebSocketEventService
from . import render
from .rpzlog import RpzLogWatcher, ThreatReporter

log = logging.getLogger("hybrid_dns.bind")

STAGING = ".staging"
_ERROR_LIMIT = 2000


class CycleFailed(Exception):
    """A render, check or reload that failed; its message goes into the events."""


class BindDeployer:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        service: WebSocketEventService,
        *,
        named_conf: Path | None = None,
        command_timeout: float = 30.0,
        debounce_max: float | None = None,
        threat_window: float = 10.0,
        log_poll_interval: float = 0.25,
    ) -> None:
        """`named_conf`: the operator's named.conf, also checked with named-checkconf after the files are
        moved into place (and the files put back when it fails); `command_timeout`: seconds a check or the
        reload command may take; `debounce_max`: the longest a stream of requests delays a reload (default
        10 x BIND_RELOAD_DEBOUNCE); `threat_window`: seconds over which one client's repeats of one blocked
        name are coalesced; `log_poll_interval`: how often the RPZ log is polled."""
        self.settings = settings
        self.db = db
        self.service = service
        self.named_conf = named_conf
        self.command_timeout = command_timeout
        self.debounce = float(settings.BIND_RELOAD_DEBOUNCE)
        self.debounce_max = max(self.debounce, debounce_max if debounce_max is not None else 10 * self.debounce)
        self.config_dir = Path(settings.bind_config_dir).absolute()
        self.rpz_zone = render.normalize_domain(settings.BIND_RPZ_ZONE)

        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._pending_zones: set[str] = set()
        self._pending_all = False
        self._pending_reasons: list[str] = []
        self._pending_count = 0
        self._requested = 0  # requests made so far
        self._done = 0  # requests whose cycle has finished
        self._done_cond = asyncio.Condition()
        self._dirty = True  # the reload command has to run even if no file changes (start-up, after a failure)
        self._rules: dict[str, render.RuleSpec] = {}
        self._closing = False

        self.cycles = 0  # finished cycles (each emits at most one bind_reload)
        self.reloads = 0  # times the reload command ran
        self.last_result: dict[str, Any] | None = None

        self.watcher: RpzLogWatcher | None = None
        if settings.BIND_QUERY_LOG is not None:
            reporter = ThreatReporter(self._emit_threat, self.rule_for, window=threat_window)
            self.watcher = RpzLogWatcher(
                Path(settings.BIND_QUERY_LOG), reporter, self.rpz_zone, poll_interval=log_poll_interval
            )

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._closing = False
        if self._task is None:
            self._requested += 1  # the start-up cycle, so that flush() right after start() waits for it
            self._spawn(startup=True)
        if self.watcher is not None:
            self.watcher.start()

    def _spawn(self, startup: bool) -> None:
        assert self._loop is not None
        self._task = self._loop.create_task(self._run(startup), name="bind-deployer")
        self._task.add_done_callback(self._task_ended)

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        # The worker never dies silently: an unexpected end is logged and the worker started again.
        if self._closing or task.cancelled():
            return
        exc = task.exception()
        log.error("BIND deployer stopped unexpectedly (%r); restarting it", exc, exc_info=exc)
        self._dirty = True
        self._spawn(startup=False)
        self._wake.set()

    async def close(self) -> None:
        self._closing = True
        if self.watcher is not None:
            await self.watcher.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def request_reload(self, zones: Iterable[str], reason: str) -> None:
        """Ask for a render and reload of `zones` (all when empty) soon; calls within the debounce window merge."""
        names = [str(z).strip().lower().rstrip(".") for z in zones if str(z).strip()]
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if self._loop is not None and running is not self._loop:
            self._loop.call_soon_threadsafe(self._add_request, names, reason)
        else:
            self._add_request(names, reason)

    def _add_request(self, names: list[str], reason: str) -> None:
        if names:
            self._pending_zones.update(names)
        else:
            self._pending_all = True
        if reason and reason not in self._pending_reasons:
            self._pending_reasons.append(reason)
        self._pending_count += 1
        self._requested += 1
        self._wake.set()

    async def flush(self, within: float = 60.0) -> dict[str, Any] | None:
        """Wait until every request made so far has been through a cycle; returns the last result."""
        target = self._requested
        async with asyncio.timeout(within), self._done_cond:
            await self._done_cond.wait_for(lambda: self._done >= target)
        return self.last_result

    def rule_for(self, name: str) -> render.RuleSpec | None:
        """The RPZ rule that covers `name` (itself or its closest listed parent), from the last good render."""
        labels = name.lower().rstrip(".").split(".")
        for i in range(len(labels)):
            rule = self._rules.get(".".join(labels[i:]))
            if rule is not None:
                return rule
        return None

    # --- the worker -------------------------------------------------------------------------------

    async def _run(self, startup: bool) -> None:
        if startup:
            await self._startup()
        while True:
            await self._wake.wait()
            await self._gather()
            zones, all_zones = sorted(self._pending_zones), self._pending_all
            reasons, count, target = self._pending_reasons, self._pending_count, self._requested
            self._pending_zones, self._pending_all, self._pending_reasons, self._pending_count = set(), False, [], 0
            self._wake.clear()
            await self._guarded(zones=zones, all_zones=all_zones, reasons=reasons, requests=count, target=target)

    async def _startup(self) -> None:
        # Bring the files in line with the database and reload, without announcing success.
        await self._guarded(
            zones=[], all_zones=True, reasons=["startup"], requests=1, target=self._requested, announce_success=False
        )

    async def _gather(self) -> None:
        """Debounce: wait until no request came for `debounce` seconds, at most `debounce_max` in all."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.debounce_max
        while True:
            self._wake.clear()
            delay = min(self.debounce, deadline - loop.time())
            if delay <= 0:
                return
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                return

    async def _guarded(
        self,
        *,
        zones: list[str],
        all_zones: bool,
        reasons: list[str],
        requests: int,
        target: int,
        announce_success: bool = True,
    ) -> None:
        """One cycle that never lets an exception end the worker."""
        try:
            await self._cycle(zones, all_zones, reasons, requests, announce_success)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("BIND deployment cycle crashed; the next change retries")
            self._dirty = True
        finally:
            self.cycles += 1
            self._done = max(self._done, target)
            async with self._done_cond:
                self._done_cond.notify_all()

    async def _cycle(
        self, zones: list[str], all_zones: bool, reasons: list[str], requests: int, announce_success: bool
    ) -> None:
        started = time.monotonic()
        reason = _join_reasons(reasons)
        applied = False
        changed: list[str] = []
        error: str | None = None
        stage = "render"
        try:
            specs, rules, forwarders = await self._load()
            names = sorted({render.normalize_domain(z.name) for z in specs}) if all_zones else zones
            zones = sorted(set(names) | set(zones))
            previous_rpz = await asyncio.to_thread(
                _read, self.config_dir / render.RPZ_DIR / render.zone_file_name(self.rpz_zone)
            )
            rendered = self._render(specs, rules, forwarders, render.rpz_serial(previous_rpz) or 1)
            rpz_rel = rendered.zone_files[self.rpz_zone]
            if previous_rpz is not None and rendered.files[rpz_rel] != previous_rpz:
                serial = max((render.rpz_serial(previous_rpz) or 0) + 1, int(time.time()))
                rendered = self._render(specs, rules, forwarders, serial)
            old = await asyncio.to_thread(self._read_current, rendered)
            changed = sorted(rel for rel, text in rendered.files.items() if old.get(rel) != text)
            stale = await asyncio.to_thread(self._stale_files, rendered)
            if changed:
                stage = "check"
                await self._check(rendered, changed)
                stage = "write"
                await asyncio.to_thread(self._commit, rendered, changed)
                if self.named_conf is not None and self._checkconf is not None:
                    stage = "check"
                    try:
                        await self._run_checked([self._checkconf, str(self.named_conf)], f"{self._checkconf}")
                    except CycleFailed:
                        await asyncio.to_thread(self._restore, old, changed)
                        raise
            if stale:
                await asyncio.to_thread(_unlink_all, stale)
            self._rules = {render.normalize_domain(r.domain): r for r in rules}
            command = self.settings.BIND_RELOAD_COMMAND.strip()
            if command and (changed or stale or self._dirty):
                stage = "reload"
                self._dirty = True
                await self._run_checked(shlex.split(command), "reload command")
                self.reloads += 1
                applied = True
            if not command or applied:
                self._dirty = False
        except CycleFailed as exc:
            error = str(exc)
        except render.RenderError as exc:
            error = f"cannot render: {exc}"
        except Exception as exc:  # the database, the disk...: reported like any failure
            log.exception("BIND deployment failed at %s", stage)
            error = f"{type(exc).__name__}: {exc}"
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        result: dict[str, Any] = {
            "zones": zones,
            "success": error is None,
            "applied": applied,
            "duration_ms": duration_ms,
            "error": error[:_ERROR_LIMIT] if error else None,
            "reason": reason,
            "stage": stage if error else None,
            "changed": changed,
            "requests": requests,
        }
        self.last_result = result
        if error is None:
            log.info(
                "BIND %s: %d files changed, applied=%s (%s ms; %s)",
                "reload" if applied else "render",
                len(changed),
                applied,
                duration_ms,
                reason,
            )
            if announce_success:
                await self._emit("emit_bind_reload", result)
            return
        log.error("BIND deployment failed at %s (%s): %s", stage, reason, error)
        await self._emit("emit_bind_reload", result, severity="error")
        alert = {
            "component": "bind",
            "alert": "bind_reload_failed",
            "message": f"BIND {stage} failed: {error.splitlines()[0] if error else ''}"[:300],
            "error": result["error"],
            "stage": stage,
            "zones": zones,
            "reason": reason,
        }
        await self._emit("emit_health_alert", alert, severity="error")

    # --- steps ------------------------------------------------------------------------------------

    async def _load(self) -> tuple[list[render.ZoneSpec], list[render.RuleSpec], list[render.ForwarderSpec]]:
        async with self.db() as session:
            zones = (await session.scalars(select(Zone).order_by(Zone.name))).all()
            records = (await session.scalars(select(Record).order_by(Record.id))).all()
            rules = (await session.scalars(select(RpzRule).order_by(RpzRule.domain))).all()
            forwarders = (await session.scalars(select(Forwarder).order_by(Forwarder.name))).all()
        by_zone: dict[int, list[Record]] = {}
        for record in records:
            by_zone.setdefault(record.zone_id, []).append(record)
        return (
            [render.zone_spec(z, by_zone.get(z.id, ())) for z in zones],
            [render.rule_spec(r) for r in rules],
            [render.forwarder_spec(f) for f in forwarders],
        )

    def _render(
        self,
        zones: list[render.ZoneSpec],
        rules: list[render.RuleSpec],
        forwarders: list[render.ForwarderSpec],
        serial: int,
    ) -> render.Rendered:
        return render.render_all(
            zones,
            rules,
            forwarders,
            config_dir=self.config_dir,
            rpz_zone=self.rpz_zone,
            rpz_serial_value=serial,
            query_log=Path(self.settings.BIND_QUERY_LOG).absolute() if self.settings.BIND_QUERY_LOG else None,
        )

    def _read_current(self, rendered: render.Rendered) -> dict[str, str | None]:
        return {rel: _read(self.config_dir / rel) for rel in rendered.files}

    def _stale_files(self, rendered: render.Rendered) -> list[Path]:
        """Zone files of zones that are gone."""
        keep = {self.config_dir / rel for rel in rendered.files}
        stale = []
        for sub in (render.ZONES_DIR, render.RPZ_DIR):
            folder = self.config_dir / sub
            if folder.is_dir():
                stale += [p for p in folder.glob("*.zone") if p not in keep]
        return stale

    @property
    def _checkzone(self) -> str | None:
        return shutil.which(self.settings.BIND_CHECKZONE) if self.settings.BIND_CHECKZONE else None

    @property
    def _checkconf(self) -> str | None:
        return shutil.which(self.settings.BIND_CHECKCONF) if self.settings.BIND_CHECKCONF else None

    async def _check(self, rendered: render.Rendered, changed: list[str]) -> None:
        """Stage the changed files and the snippets, and check them there."""
        staging = self.config_dir / STAGING
        await asyncio.to_thread(self._stage, staging, rendered, changed)
        checkzone, checkconf = self._checkzone, self._checkconf
        zone_by_file = {rel: zone for zone, rel in rendered.zone_files.items()}
        errors: list[str] = []
        if checkzone is not None:
            for rel in changed:
                zone = zone_by_file.get(rel)
                if zone is None:
                    continue
                try:
                    await self._run_checked([checkzone, zone, str(staging / rel)], f"named-checkzone {zone}")
                except CycleFailed as exc:
                    errors.append(str(exc))
        if checkconf is not None:
            try:
                await self._run_checked([checkconf, str(staging / render.CHECK_CONF)], "named-checkconf")
            except CycleFailed as exc:
                errors.append(str(exc))
        if errors:
            raise CycleFailed("\n".join(errors))

    def _stage(self, staging: Path, rendered: render.Rendered, changed: list[str]) -> None:
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        for rel in changed:
            _write(staging / rel, rendered.files[rel])
        # named-checkconf reads the snippets through a config that includes them from the staging folder.
        for rel in (render.ZONES_CONF, render.FORWARDERS_CONF, render.RESPONSE_POLICY_CONF):
            if not (staging / rel).exists():
                _write(staging / rel, rendered.files[rel])
        _write(staging / render.CHECK_CONF, render.render_check_conf(staging))

    def _commit(self, rendered: render.Rendered, changed: list[str]) -> None:
        staging = self.config_dir / STAGING
        # Zone files first, then the configuration that names them.
        for rel in sorted(changed, key=lambda r: r.endswith(".conf")):
            target = self.config_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            source = staging / rel
            if rel == render.CHECK_CONF or not source.exists():
                _write(target, rendered.files[rel])
            else:
                os.replace(source, target)
        shutil.rmtree(staging, ignore_errors=True)

    def _restore(self, old: dict[str, str | None], changed: list[str]) -> None:
        for rel in changed:
            previous = old.get(rel)
            if previous is None:
                with contextlib.suppress(FileNotFoundError):
                    (self.config_dir / rel).unlink()
            else:
                _write(self.config_dir / rel, previous)

    async def _run_checked(self, argv: list[str], what: str) -> str:
        """Run a program (never through a shell) with a timeout; CycleFailed with its output when it fails."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
            )
        except OSError as exc:
            raise CycleFailed(f"{what}: cannot run {argv[0]!r}: {exc}") from None
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), self.command_timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise CycleFailed(f"{what}: timed out after {self.command_timeout:g}s") from None
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            raise
        text = out.decode(errors="replace").strip()
        if proc.returncode != 0:
            staging = str(self.config_dir / STAGING) + "/"
            text = text.replace(staging, "")
            raise CycleFailed(f"{what} failed (exit {proc.returncode}): {text or 'no output'}")
        return text

    # --- events -----------------------------------------------------------------------------------

    async def _emit(self, method: str, data: dict[str, Any], severity: str | None = None) -> None:
        try:
            await getattr(self.service, method)(data, severity=severity)
        except Exception:
            log.exception("could not publish %s", method.removeprefix("emit_"))

    async def _emit_threat(self, data: dict[str, Any]) -> None:
        await self.service.emit_threat_detected(data)


def _join_reasons(reasons: list[str]) -> str:
    if not reasons:
        return ""
    if len(reasons) <= 5:
        return ", ".join(reasons)
    return ", ".join(reasons[:5]) + f" (+{len(reasons) - 5} more)"


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def _write(path: Path, text: str) -> None:
    """Write atomically: a temporary file in the same folder, then rename over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
