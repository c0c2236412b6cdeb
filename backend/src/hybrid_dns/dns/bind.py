"""BIND9 deployment: render zones, the RPZ zone and forwarders; check; reload; announce it.

Interface used by the rest of the app: `await deployer.start()`, `await deployer.close()`, and
`deployer.request_reload(zones, reason)`, which the DNS API calls after a committed change.

One background task does the work. Requests within BIND_RELOAD_DEBOUNCE of each other (trailing,
capped at `debounce_max`) merge into one cycle, their zones unioned:

1. read zones, records, RPZ rules and forwarders from the database and render every file (render.py);
2. compare with what is in BIND_CONFIG_DIR; only files whose content changed are staged, in
   `<dir>/.staging`, and checked there: named-checkzone (`-k fail`, as named loads a primary zone)
   for each changed zone file, then named-checkconf on a small config including the snippets (each
   when the program is on PATH);
3. move the staged files into place (atomic rename) and run BIND_RELOAD_COMMAND (shlex-split, no
   shell, with a timeout); an empty command renders only;
4. emit one `bind_reload` {zones, success, applied, duration_ms, error, reason, changed, requests,
   failed_zones, failed_rules, failed_forwarders}, and a `health_alert` when anything failed.

Deployment is per zone: a zone that cannot be rendered or fails named-checkzone keeps its last
good file (or, if it never had one, is left out of zones.conf) while every other zone deploys; an
RPZ rule or a forwarder that cannot be written is left out the same way. The event and the alert
name what was left out, and say so again on every cycle until it is fixed. A failure of the
configuration as a whole (named-checkconf, the operator's named.conf, the reload command) leaves
every file as it was, so named (and a named restarted later) keeps the last good configuration.
The start-up cycle renders and reloads without an event when it works.

The API checks a change before it commits it with the same rendering and checks (`dry_run_zone`,
`dry_run_forwarding`, `dry_run_rules`), so a change that would not deploy is refused in its request.

When BIND_QUERY_LOG is set, named's RPZ log is followed and each blocked query becomes a
`threat_detected` event (rpzlog.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import shlex
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..config import Settings
from ..db import Database
from ..models import Forwarder, Record, RpzRule, Zone
from ..realtime.service import WebSocketEventService
from . import render, rules
from .rpzlog import RpzLogWatcher, ThreatReporter

log = logging.getLogger("hybrid_dns.bind")

STAGING = ".staging"
_ERROR_LIMIT = 2000
_DRY_RUNS = 2  # checks run at once for API requests
# named-checkzone's lines that say nothing the others do not.
_NOISE = ("not loaded due to errors", "loaded serial")


class CycleFailed(Exception):
    """A render, check or reload that failed; its message goes into the events."""


class CheckFailed(Exception):
    """A change that would not deploy; the message (the checker's words, no file paths) says why."""


@dataclasses.dataclass
class _Plan:
    """What one cycle writes, keeps and leaves out."""

    files: dict[str, str]  # relative path -> text to have on disk
    keep: set[str]  # relative paths of last good zone files kept for zones that now fail
    old: dict[str, str | None]  # relative path -> what is on disk now
    failed_zones: dict[str, str]  # zone -> why
    failed_rules: dict[str, str]  # RPZ rule domain -> why
    failed_forwarders: dict[str, str]  # forwarder -> why
    rules: list[render.RuleSpec] | None  # the RPZ rules written; None when the last good RPZ zone stays
    check_failed: bool = False  # whether named-checkzone refused a zone (else only rendering did)


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
        self._debounce_max = debounce_max
        self.config_dir = Path(settings.bind_config_dir).absolute()
        self.rpz_zone = render.normalize_domain(settings.BIND_RPZ_ZONE)
        self.query_log = Path(settings.BIND_QUERY_LOG).absolute() if settings.BIND_QUERY_LOG else None

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
        self._dry_runs = asyncio.Semaphore(_DRY_RUNS)

        self.cycles = 0  # finished cycles (each emits at most one bind_reload)
        self.reloads = 0  # times the reload command ran
        self.last_result: dict[str, Any] | None = None

        self.watcher: RpzLogWatcher | None = None
        if settings.BIND_QUERY_LOG is not None:
            reporter = ThreatReporter(self._emit_threat, self.rule_for, window=threat_window)
            self.watcher = RpzLogWatcher(
                Path(settings.BIND_QUERY_LOG), reporter, self.rpz_zone, poll_interval=log_poll_interval
            )

    @property
    def debounce(self) -> float:
        """Read live: an admin may change BIND_RELOAD_DEBOUNCE while the server runs (PUT /api/settings)."""
        return float(self.settings.BIND_RELOAD_DEBOUNCE)

    @property
    def debounce_max(self) -> float:
        """The longest a stream of requests delays a reload: as given, else 10 x the live debounce."""
        cap = self._debounce_max if self._debounce_max is not None else 10 * self.debounce
        return max(self.debounce, cap)

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
        plan: _Plan | None = None
        try:
            specs, rule_specs, forwarders = await self._load()
            names = sorted({z.name.lower().rstrip(".") for z in specs}) if all_zones else zones
            zones = sorted(set(names) | set(zones))
            plan = await self._plan(specs, rule_specs, forwarders)
            changed = sorted(rel for rel, text in plan.files.items() if plan.old.get(rel) != text)
            stale = await asyncio.to_thread(self._stale_files, set(plan.files) | plan.keep)
            if changed:
                stage = "check"
                await self._check_conf(plan, changed)
                stage = "write"
                await asyncio.to_thread(self._commit, plan, changed)
                if self.named_conf is not None and self._checkconf is not None:
                    stage = "check"
                    try:
                        await self._run_checked([self._checkconf, str(self.named_conf)], f"{self._checkconf}")
                    except CycleFailed:
                        await asyncio.to_thread(self._restore, plan.old, changed)
                        raise
            if stale:
                await asyncio.to_thread(_unlink_all, stale)
            if plan.rules is not None:
                self._rules = {r.domain.lower().rstrip("."): r for r in plan.rules}
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
        left_out = _left_out(plan) if plan is not None else []
        if error is None and left_out:
            stage = "check" if plan is not None and plan.check_failed else "render"
        problems = "\n".join([*([error] if error else []), *left_out]) or None
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        result: dict[str, Any] = {
            "zones": zones,
            "success": problems is None,
            "applied": applied,
            "duration_ms": duration_ms,
            "error": problems[:_ERROR_LIMIT] if problems else None,
            "reason": reason,
            "stage": stage if problems else None,
            "changed": changed,
            "requests": requests,
            "failed_zones": sorted(plan.failed_zones) if plan is not None else [],
            "failed_rules": sorted(plan.failed_rules) if plan is not None else [],
            "failed_forwarders": sorted(plan.failed_forwarders) if plan is not None else [],
        }
        self.last_result = result
        if problems is None:
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
        log.error("BIND deployment failed at %s (%s): %s", stage, reason, problems)
        await self._emit("emit_bind_reload", result, severity="error")
        alert = {
            "component": "bind",
            "alert": "bind_reload_failed",
            "message": f"BIND {stage} failed: {problems.splitlines()[0]}"[:300],
            "error": result["error"],
            "stage": stage,
            "zones": zones,
            "reason": reason,
            "failed_zones": result["failed_zones"],
            "failed_rules": result["failed_rules"],
            "failed_forwarders": result["failed_forwarders"],
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

    async def _plan(
        self, specs: list[render.ZoneSpec], rule_specs: list[render.RuleSpec], forwarders: list[render.ForwarderSpec]
    ) -> _Plan:
        """Render every file, leaving out (or keeping at its last good version) each zone, rule or
        forwarder that cannot be rendered or fails named-checkzone."""
        await asyncio.to_thread(shutil.rmtree, self.config_dir / STAGING, True)
        # Many zones with many records take a while to render: off the event loop.
        texts, failed_zones = await asyncio.to_thread(self._render_zones, specs)

        rpz_rel = f"{render.RPZ_DIR}/{render.zone_file_name(self.rpz_zone)}"
        paths = [rel for rel, _ in texts.values()] + [rpz_rel, *_CONF_FILES]
        old = await asyncio.to_thread(self._read_files, paths)
        failed_rules: dict[str, str] = {}
        previous_rpz = old[rpz_rel]
        # A large RPZ zone takes a while to render: off the event loop.
        rpz_text = await asyncio.to_thread(
            render.render_rpz_zone, self.rpz_zone, rule_specs, render.rpz_serial(previous_rpz) or 1, failed_rules
        )
        if previous_rpz is not None and rpz_text != previous_rpz:
            serial = max((render.rpz_serial(previous_rpz) or 0) + 1, int(time.time()))
            rpz_text = await asyncio.to_thread(render.render_rpz_zone, self.rpz_zone, rule_specs, serial, {})
        texts[self.rpz_zone] = (rpz_rel, rpz_text)

        check_failed = await self._check_zone_files(texts, old, failed_zones)
        files: dict[str, str] = {}
        keep: set[str] = set()
        for name, (rel, text) in texts.items():
            if text is not None:
                files[rel] = text
            elif old.get(rel) is not None:
                keep.add(rel)
                failed_zones[name] = f"zone {name} keeps its last good version: {failed_zones[name]}"
            elif name == self.rpz_zone:
                files[rel] = render.render_rpz_zone(self.rpz_zone, [], 1)
                failed_zones[name] = f"zone {name} is served without rules: {failed_zones[name]}"
            else:
                failed_zones[name] = f"zone {name} is left out (it never had a good version): {failed_zones[name]}"
        served = {name for name, (rel, _) in texts.items() if rel in files or rel in keep}
        conf_zones = [s for s in specs if s.zone_type != "master" or s.name.lower().rstrip(".") in served]
        conf_problems: dict[str, str] = {}
        files[render.ZONES_CONF] = render.render_zones_conf(conf_zones, self.config_dir, self.rpz_zone, conf_problems)
        for name, why in conf_problems.items():
            failed_zones.setdefault(name, f"zone {name} is left out: {why}")
        failed_forwarders: dict[str, str] = {}
        taken = [s.name for s in specs] + [self.rpz_zone]
        files[render.FORWARDERS_CONF] = render.render_forwarders_conf(forwarders, taken, failed_forwarders)
        files[render.RESPONSE_POLICY_CONF] = render.render_response_policy(self.rpz_zone)
        files[render.LOGGING_CONF] = render.render_logging_conf(self.query_log)
        files[render.CHECK_CONF] = render.render_check_conf(self.config_dir)
        written_rules = None if rpz_rel in keep else [r for r in rule_specs if r.domain not in failed_rules]
        return _Plan(
            files=files,
            keep=keep,
            old=old,
            failed_zones=failed_zones,
            failed_rules=failed_rules,
            failed_forwarders=failed_forwarders,
            rules=written_rules,
            check_failed=check_failed,
        )

    def _render_zones(self, specs: list[render.ZoneSpec]) -> tuple[dict[str, tuple[str, str | None]], dict[str, str]]:
        """Each master zone's file (text None when it cannot be rendered), and why the failing ones fail."""
        failed_zones: dict[str, str] = {}
        texts: dict[str, tuple[str, str | None]] = {}  # master zone -> (file, text; None when it failed)
        for spec in specs:
            if spec.zone_type != "master":
                continue
            try:
                name = render.normalize_domain(spec.name)
                rel = f"{render.ZONES_DIR}/{render.zone_file_name(name)}"
            except render.RenderError as exc:
                failed_zones[spec.name] = f"zone {spec.name!r} is left out: {exc}"
                continue
            if name in texts or name == self.rpz_zone:
                failed_zones.setdefault(name, f"zone {name} is left out: it is defined twice or is the RPZ zone")
                continue
            try:
                texts[name] = (rel, render.render_zone_file(spec))
            except render.RenderError as exc:
                texts[name] = (rel, None)
                failed_zones[name] = f"cannot be rendered: {exc}"
        return texts, failed_zones

    def _read_files(self, paths: Iterable[str]) -> dict[str, str | None]:
        return {rel: _read(self.config_dir / rel) for rel in paths}

    def _stale_files(self, keep: set[str]) -> list[Path]:
        """Zone files of zones that are gone."""
        kept = {self.config_dir / rel for rel in keep}
        stale = []
        for sub in (render.ZONES_DIR, render.RPZ_DIR):
            folder = self.config_dir / sub
            if folder.is_dir():
                stale += [p for p in folder.glob("*.zone") if p not in kept]
        return stale

    @property
    def _checkzone(self) -> str | None:
        return shutil.which(self.settings.BIND_CHECKZONE) if self.settings.BIND_CHECKZONE else None

    @property
    def _checkconf(self) -> str | None:
        return shutil.which(self.settings.BIND_CHECKCONF) if self.settings.BIND_CHECKCONF else None

    def _checkzone_argv(self, checkzone: str, zone: str, path: Path) -> list[str]:
        # -k fail: named loads a primary zone with check-names fail; named-checkzone only warns by default.
        return [checkzone, "-k", "fail", zone, str(path)]

    async def _check_zone_files(
        self, texts: dict[str, tuple[str, str | None]], old: dict[str, str | None], failed: dict[str, str]
    ) -> bool:
        """named-checkzone each changed zone file in the staging folder; a zone that fails gets text None.

        Returns whether any zone failed.
        """
        checkzone = self._checkzone
        pending = {
            name: (rel, text) for name, (rel, text) in texts.items() if text is not None and old.get(rel) != text
        }
        if checkzone is None or not pending:
            return False
        staging = self.config_dir / STAGING
        await asyncio.to_thread(_write_all, staging, {rel: text for rel, text in pending.values() if text is not None})
        any_failed = False
        for name, (rel, _) in sorted(pending.items()):
            try:
                await self._run_checked(self._checkzone_argv(checkzone, name, staging / rel), f"named-checkzone {name}")
            except CycleFailed as exc:
                failed[name] = str(exc)
                texts[name] = (rel, None)
                any_failed = True
                with contextlib.suppress(FileNotFoundError):
                    (staging / rel).unlink()
        return any_failed

    async def _check_conf(self, plan: _Plan, changed: list[str]) -> None:
        """Stage the changed configuration snippets and named-checkconf them (CycleFailed when it fails)."""
        staging = self.config_dir / STAGING
        await asyncio.to_thread(self._stage, staging, plan, changed)
        checkconf = self._checkconf
        if checkconf is not None:
            await self._run_checked([checkconf, str(staging / render.CHECK_CONF)], "named-checkconf")

    def _stage(self, staging: Path, plan: _Plan, changed: list[str]) -> None:
        staging.mkdir(parents=True, exist_ok=True)
        for rel in changed:
            if not (staging / rel).exists():
                _write(staging / rel, plan.files[rel])
        # named-checkconf reads the snippets through a config that includes them from the staging folder.
        for rel in (render.ZONES_CONF, render.FORWARDERS_CONF, render.RESPONSE_POLICY_CONF):
            if not (staging / rel).exists():
                _write(staging / rel, plan.files[rel])
        _write(staging / render.CHECK_CONF, render.render_check_conf(staging))

    def _commit(self, plan: _Plan, changed: list[str]) -> None:
        staging = self.config_dir / STAGING
        # Zone files first, then the configuration that names them.
        for rel in sorted(changed, key=lambda r: r.endswith(".conf")):
            target = self.config_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            source = staging / rel
            if rel == render.CHECK_CONF or not source.exists():
                _write(target, plan.files[rel])
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

    async def _run_checked(self, argv: list[str], what: str, strip: Path | None = None) -> str:
        """Run a program (never through a shell) with a timeout; CycleFailed with its output when it fails.

        Paths under `strip` (default: the staging folder) are shown relative to it.
        """
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
            )
        except OSError as exc:
            raise CycleFailed(f"{what}: cannot run {argv[0]!r} ({exc.strerror or type(exc).__name__})") from None
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
            text = text.replace(str(strip or self.config_dir / STAGING) + "/", "")
            lines = [line for line in text.splitlines() if not any(n in line for n in _NOISE)]
            raise CycleFailed(f"{what} failed (exit {proc.returncode}): {'; '.join(lines) or 'no output'}")
        return text

    # --- dry runs for the API -----------------------------------------------------------------------

    async def dry_run_zone(self, zone: render.ZoneSpec) -> None:
        """Refuse a master zone that would not load: render it (every token re-checked), apply the rules
        that need the whole zone, and named-checkzone it as a cycle would. CheckFailed says why."""
        try:
            origin = render.normalize_domain(zone.name)
            text = await asyncio.to_thread(render.render_zone_file, zone)
            records = [(render.relative_owner(r.name, origin), r.type.upper(), r.value) for r in zone.records]
        except render.RenderError as exc:
            raise CheckFailed(str(exc)) from None
        problems = rules.zone_problems(origin, zone.primary_ns, records)
        if problems:
            raise CheckFailed(f"zone {origin} would not load: {'; '.join(problems)}")
        checkzone = self._checkzone
        if checkzone is not None:
            await self._dry_run(
                {f"{origin}.zone": text},
                lambda d: self._checkzone_argv(checkzone, origin, d / f"{origin}.zone"),
                f"named-checkzone {origin}",
            )

    async def dry_run_rules(self, rule_specs: Sequence[render.RuleSpec]) -> None:
        """Refuse RPZ rules that could not be written: render an RPZ zone of just these and check it."""
        try:
            text = await asyncio.to_thread(render.render_rpz_zone, self.rpz_zone, rule_specs, 1)
        except render.RenderError as exc:
            raise CheckFailed(str(exc)) from None
        checkzone = self._checkzone
        if checkzone is not None:
            name = f"{self.rpz_zone}.zone"
            await self._dry_run(
                {name: text},
                lambda d: self._checkzone_argv(checkzone, self.rpz_zone, d / name),
                f"named-checkzone {self.rpz_zone}",
            )

    async def dry_run_forwarding(
        self, forward_zones: Sequence[render.ZoneSpec], forwarders: Sequence[render.ForwarderSpec], taken: Iterable[str]
    ) -> None:
        """Refuse forward zones and forwarders that could not be written: render their statements and
        named-checkconf them."""
        try:
            # Zone file paths relative to the check's folder (named-checkconf reads no zone file).
            zones_text = render.render_zones_conf(forward_zones, Path(), self.rpz_zone)
            forwarders_text = render.render_forwarders_conf(forwarders, [*taken, self.rpz_zone])
        except render.RenderError as exc:
            raise CheckFailed(str(exc)) from None
        checkconf = self._checkconf
        if checkconf is not None:
            files = {
                render.ZONES_CONF: zones_text,
                render.FORWARDERS_CONF: forwarders_text,
                render.RESPONSE_POLICY_CONF: render.render_response_policy(self.rpz_zone),
            }
            await self._dry_run(files, lambda d: [checkconf, str(d / render.CHECK_CONF)], "named-checkconf", conf=True)

    async def _dry_run(
        self, files: dict[str, str], argv: Callable[[Path], list[str]], what: str, *, conf: bool = False
    ) -> None:
        """Write `files` into a fresh temporary folder and run the checker there; CheckFailed when it fails."""
        async with self._dry_runs:
            folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="hybrid-dns-check-"))
            try:
                if conf:
                    files = {**files, render.CHECK_CONF: render.render_check_conf(folder)}
                await asyncio.to_thread(_write_all, folder, files)
                await self._run_checked(argv(folder), what, strip=folder)
            except CycleFailed as exc:
                raise CheckFailed(str(exc).replace(str(folder), "")) from None
            finally:
                await asyncio.to_thread(shutil.rmtree, folder, True)

    # --- events -----------------------------------------------------------------------------------

    async def _emit(self, method: str, data: dict[str, Any], severity: str | None = None) -> None:
        try:
            await getattr(self.service, method)(data, severity=severity)
        except Exception:
            log.exception("could not publish %s", method.removeprefix("emit_"))

    async def _emit_threat(self, data: dict[str, Any]) -> None:
        await self.service.emit_threat_detected(data)


_CONF_FILES = (
    render.ZONES_CONF,
    render.FORWARDERS_CONF,
    render.RESPONSE_POLICY_CONF,
    render.LOGGING_CONF,
    render.CHECK_CONF,
)


def _left_out(plan: _Plan) -> list[str]:
    """One line per zone, rule or forwarder the cycle could not deploy."""
    lines = [plan.failed_zones[z] for z in sorted(plan.failed_zones)]
    lines += [f"RPZ rule {d!r} is left out: {plan.failed_rules[d]}" for d in sorted(plan.failed_rules)]
    lines += [f"forwarder {f!r} is left out: {plan.failed_forwarders[f]}" for f in sorted(plan.failed_forwarders)]
    return lines


def _write_all(folder: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        _write(folder / rel, text)


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
