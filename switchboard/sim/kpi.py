"""KPIs of a simulated run, collected from the core's records (and a few world facts).

The collector is fed while the run goes (``on_*`` methods, one per record type) and
``finish()`` returns a JSON-serialisable dict. Ratios that are undefined (no calls) are None.

Definitions:

- ``answered`` / ``missed`` / ``rejected`` / ``completed`` (heard an informational IVR
  branch to the end: served without an agent): CallFinished outcomes; ``abandoned``: reason
  ``abandoned`` (the caller hung up while waiting).
- service level (the usual one): calls answered within the threshold (the queue's
  ``service_level`` seconds, 20 s for calls outside queues) divided by the calls answered
  plus those abandoned after the threshold. Callers who gave up quickly count for neither.
- ASA: mean wait of answered calls. Mean and p90 wait: over answered and abandoned calls.
- occupancy: time talking or in wrap-up / time staffed: logged in and available
  (registered, status available, and on shift when the agent has a schedule) or busy. A call
  taken off shift (on a mobile at night, past the end of the shift) is staffed time too;
  counting its talk but not its time would inflate occupancy, past 100 % for an agent who
  covers the night from a mobile.
- per agent: ``answered`` inbound calls, ``callbacks`` connected with them on the line.
- ETA accuracy: for every EtaEstimated of a caller who was then answered,
  |estimate - (answered_at - announced_at)|, averaged per estimator (``mae``; ``bias`` the
  signed mean, ``n`` the announcements). Callers who hang up are censored (their real
  wait is unknown), and they are mostly the long waits a too-low estimate gets most
  wrong, so the MAE flatters such an estimator. ``under_announced`` shows it: the share
  of answered callers given at least one estimate (``callers``) who waited more than
  ``UNDER_ANNOUNCED_BY`` (30 s) longer than one of the estimates given them.
- lost: numbers whose last LostChanged is ``lost`` at the end of the run.
- per queue: inbound callers only (from QueueExited); callback jobs waiting in a queue are
  counted apart in ``callback_exits``. Overall figures come from CallFinished.
- staffing (per weekday and hour): ``agents_needed`` for the calls that wanted an agent
  (``agent_calls_per_hour``: answered, queued, or someone was rung for them), with
  ``channels_needed`` for all calls (``calls_per_hour``): a call that only heard the
  after-hours menu or left a message holds a line but needs nobody. ``agents_on``: agents
  available on shift, on average. ``agents_by_mobile``: agents on duty by mobile, reached
  when not available on shift (a duty person at night, a colleague on the weekend): rung
  for a call that arrived in the hour (the core's Ring legs name them), or engaged in it
  (ringing, talking, wrap-up) since such a ring; each counts once in the hour, less the
  part of it they were on shift. A duty person is seen only when rung, so this is the mean
  over the days the hour had a call for an agent (or such a duty), not over all days.
  ``agents_reachable`` = ``agents_on`` + ``agents_by_mobile``, what ``agents_needed`` is
  held against: an hour served by mobiles as designed is no shortage, one with calls for
  an agent and nobody reachable is. A ring to a number that is no agent's reaches nobody
  countable. ``per_hour`` rows carry ``agents_by_mobile`` of that very hour.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict
from collections.abc import Sequence

from switchboard.config.model import Config, Traffic
from switchboard.core.commands import (
    AgentStateChanged,
    CallbackFinished,
    CallFinished,
    ChannelsExhausted,
    EtaEstimated,
    LostChanged,
    QueueExited,
)
from switchboard.sim.traffic import HourGrid

DEFAULT_SL_SECONDS = 20.0
STAFFING_TARGET = 0.8  # share of calls answered within the service-level threshold
_CONTRACT_ESTIMATORS = ("switchboard", "moving_average")
UNDER_ANNOUNCED_BY = 30.0  # seconds of real wait beyond an estimate that a caller notices
_BUSY = frozenset({"talking", "wrapup"})

Intervals = list[tuple[float, float]]


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default) of ``values``; None when empty."""
    if not values:
        return None
    data = sorted(values)
    pos = (len(data) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


class _WaitStats:
    """Counts and waits of one group of calls (overall, a queue, an hour)."""

    __slots__ = ("abandoned", "answered", "answered_waits", "calls", "late_abandoned",
                 "on_time", "waits")

    def __init__(self) -> None:
        self.calls = 0
        self.answered = 0
        self.abandoned = 0
        self.on_time = 0
        self.late_abandoned = 0
        self.waits: list[float] = []
        self.answered_waits: list[float] = []

    def add(self, answered: bool, abandoned: bool, wait: float, threshold: float) -> None:
        if answered:
            self.answered += 1
            self.answered_waits.append(wait)
            self.waits.append(wait)
            if wait <= threshold:
                self.on_time += 1
        elif abandoned:
            self.abandoned += 1
            self.waits.append(wait)
            if wait > threshold:
                self.late_abandoned += 1

    def summary(self) -> dict[str, float | int | None]:
        return {
            "calls": self.calls,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "service_level": _ratio(self.on_time, self.answered + self.late_abandoned),
            "asa": _mean(self.answered_waits),
            "mean_wait": _mean(self.waits),
            "p90_wait": percentile(self.waits, 0.9),
        }


class KpiCollector:
    """Accumulates one run's figures. ``shifts[agent]`` is None for agents without schedule."""

    def __init__(
        self,
        config: Config,
        grid: HourGrid,
        traffic: Sequence[Traffic],
        shifts: dict[str, Intervals | None],
    ) -> None:
        self._config = config
        self._traffic = traffic
        self._grid = grid
        self._shifts = shifts
        self._thresholds = {name: q.service_level for name, q in config.queues.items()}
        slots = len(grid.day)
        self.calls = 0
        self.overall = _WaitStats()
        self.outcomes: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self.finished: int = 0
        self.voicemails = 0
        self.exhausted = 0
        self.per_queue: dict[str, _WaitStats] = {name: _WaitStats() for name in config.queues}
        self.queue_exits: dict[str, Counter[str]] = {name: Counter() for name in config.queues}
        self.callback_exits: dict[str, Counter[str]] = {name: Counter() for name in config.queues}
        self._inbound: set[str] = set()
        self.per_hour = [_WaitStats() for _ in range(slots)]
        self.per_number: dict[str, list[int]] = {n.number: [0, 0] for n in config.numbers}
        self.heat_calls = [[0] * 24 for _ in range(7)]
        self.heat_missed = [[0] * 24 for _ in range(7)]
        # Calls that wanted an agent (a queue, a ring): what agents are sized for (staffing).
        self.heat_wanting = [[0] * 24 for _ in range(7)]
        self._wanting_slot = [0] * slots
        # Rung calls -> the agents rung off post for them; then (agent, the call's hour).
        self._rang: dict[str, list[str]] = {}
        self._duty_hours: set[tuple[str, int]] = set()
        self.lost_status: dict[str, str] = {}
        self.callbacks: Counter[str] = Counter()
        self.talk_sum = 0.0
        # ETA: pending announcements per call, then absolute errors per estimator.
        self._eta_pending: dict[str, list[tuple[float, dict[str, float]]]] = {}
        self._eta_errors: dict[str, list[float]] = defaultdict(list)
        self._eta_signed: dict[str, float] = defaultdict(float)
        self._eta_unknown: Counter[str] = Counter()
        self._eta_callers: Counter[str] = Counter()  # answered callers given an estimate
        self._eta_under: Counter[str] = Counter()  # ... who waited much longer than one
        # Agents: state intervals (system) and availability (world: status, registration).
        ids = [a.id for a in config.agents]
        self._state = dict.fromkeys(ids, "idle")
        self._state_since = dict.fromkeys(ids, grid.t0)
        self._busy_slot = [0.0] * slots
        self._busy = dict.fromkeys(ids, 0.0)
        self._busy_spans: dict[str, Intervals] = {i: [] for i in ids}
        # Engagements (from leaving idle to idle again) begun off post: duty by mobile.
        self._duty_spans: dict[str, Intervals] = {i: [] for i in ids}
        self._duty_since: dict[str, float] = {}
        self._talk = dict.fromkeys(ids, 0.0)
        self._available: dict[str, Intervals] = {i: [] for i in ids}
        self._available_since: dict[str, float | None] = dict.fromkeys(ids)
        self._answered_by: Counter[str] = Counter()
        self._callbacks_by: Counter[str] = Counter()
        self._not_answered: Counter[str] = Counter()
        self._answer_delays: dict[str, list[float]] = {i: [] for i in ids}

    # ------------------------------------------------------------------ world facts

    def call_arrived(self, call_id: str, t: float, dialed: str) -> None:
        self.calls += 1
        self._inbound.add(call_id)
        grid = self._grid
        i = grid.index(t)
        self.per_hour[i].calls += 1
        self.heat_calls[grid.weekday[i]][grid.hour[i]] += 1
        counts = self.per_number.get(dialed)
        if counts is None:
            counts = self.per_number[dialed] = [0, 0]
        counts[0] += 1

    def agent_available(self, agent_id: str, available: bool, t: float) -> None:
        """The agent became available (registered and status available) or stopped being."""
        since = self._available_since.get(agent_id)
        if available and since is None:
            self._available_since[agent_id] = t
        elif not available and since is not None:
            self._available[agent_id].append((since, t))
            self._available_since[agent_id] = None

    def agent_rang(self, agent_id: str, answered: bool, delay: float) -> None:
        if answered:
            self._answer_delays.setdefault(agent_id, []).append(delay)
        else:
            self._not_answered[agent_id] += 1

    def call_rang(self, call_id: str, at: float, agents: Sequence[str] = ()) -> None:
        """Someone was rung at ``at`` for this inbound call: ``agents`` (softphones or
        mobiles), or only numbers that are no agent's."""
        rings = self._rang.setdefault(call_id, [])
        rings.extend(agent for agent in agents if self._off_post(agent, at))

    def _off_post(self, agent: str, at: float) -> bool:
        """Not available on shift at ``at`` (the collector is fed in time order)."""
        if self._available_since.get(agent) is None:
            return True
        shift = self._shifts.get(agent)
        return shift is not None and not _inside(at, shift)

    def voicemail_saved(self) -> None:
        self.voicemails += 1

    # ------------------------------------------------------------------ core records

    def on_call_finished(self, rec: CallFinished) -> None:
        self.finished += 1
        self.outcomes[rec.outcome] += 1
        self.reasons[rec.reason] += 1
        answered = rec.outcome == "answered"
        abandoned = rec.reason == "abandoned"
        threshold = self._thresholds.get(rec.queue or "", DEFAULT_SL_SECONDS)
        wait = rec.wait
        self.overall.add(answered, abandoned, wait, threshold)
        grid = self._grid
        i = min(max(int((rec.arrived - grid.t0) // 3600), 0), len(self.per_hour) - 1)
        self.per_hour[i].add(answered, abandoned, wait, threshold)
        if answered:
            self.talk_sum += rec.talk
            if rec.agent_id is not None:
                self._answered_by[rec.agent_id] += 1
        elif rec.outcome == "missed":
            self.heat_missed[grid.weekday[i]][grid.hour[i]] += 1
        rings = self._rang.pop(rec.call_id, None)
        rang = rings is not None
        if rings:
            self._duty_hours.update((agent, i) for agent in rings)
        if (answered or rang or rec.queue is not None) and rec.call_id in self._inbound:
            self.heat_wanting[grid.weekday[i]][grid.hour[i]] += 1
            self._wanting_slot[i] += 1
        pending = self._eta_pending.pop(rec.call_id, None)
        if pending and answered and rec.answered_at is not None:
            given: set[str] = set()
            under: set[str] = set()
            for at, estimates in pending:
                actual = rec.answered_at - at
                for name, estimate in estimates.items():
                    if math.isfinite(estimate):
                        self._eta_errors[name].append(abs(estimate - actual))
                        self._eta_signed[name] += estimate - actual
                        given.add(name)
                        if actual - estimate > UNDER_ANNOUNCED_BY:
                            under.add(name)
                    else:  # "no idea" (nobody staffed): kept apart, not an error of inf
                        self._eta_unknown[name] += 1
            self._eta_callers.update(given)
            self._eta_under.update(under)

    def on_queue_exited(self, rec: QueueExited) -> None:
        stats = self.per_queue.get(rec.queue)
        if stats is None:
            stats = self.per_queue[rec.queue] = _WaitStats()
            self.queue_exits[rec.queue] = Counter()
            self.callback_exits[rec.queue] = Counter()
        if rec.call_id not in self._inbound:
            # A callback job keeping a place in the queue (M1, B4): not a caller on the line.
            self.callback_exits[rec.queue][rec.reason] += 1
            return
        stats.calls += 1
        self.queue_exits[rec.queue][rec.reason] += 1
        threshold = self._thresholds.get(rec.queue, DEFAULT_SL_SECONDS)
        stats.add(rec.reason == "answered", rec.reason == "abandoned", rec.wait, threshold)

    def on_eta(self, rec: EtaEstimated) -> None:
        self._eta_pending.setdefault(rec.call_id, []).append((rec.at, rec.estimates))

    def on_exhausted(self, rec: ChannelsExhausted) -> None:
        self.exhausted += 1
        counts = self.per_number.get(rec.dialed)
        if counts is None:
            counts = self.per_number[rec.dialed] = [0, 0]
        counts[1] += 1

    def on_lost(self, rec: LostChanged) -> None:
        self.lost_status[rec.number] = rec.status

    def on_callback(self, rec: CallbackFinished) -> None:
        self.callbacks[rec.outcome] += 1
        if rec.outcome == "connected" and rec.agent_id is not None:
            self._callbacks_by[rec.agent_id] += 1

    def on_agent_state(self, rec: AgentStateChanged) -> None:
        agent = rec.agent_id
        previous = self._state.get(agent)
        if previous is not None and previous in _BUSY:
            self._add_busy(agent, previous, self._state_since[agent], rec.at)
        if rec.state == "idle":
            since = self._duty_since.pop(agent, None)
            if since is not None:
                self._duty_spans.setdefault(agent, []).append((since, rec.at))
        elif previous in ("idle", None) and self._off_post(agent, rec.at):
            self._duty_since[agent] = rec.at
        self._state[agent] = rec.state
        self._state_since[agent] = rec.at

    def _add_busy(self, agent: str, state: str, start: float, end: float) -> None:
        if end <= start:
            return
        self._busy[agent] = self._busy.get(agent, 0.0) + end - start
        self._busy_spans.setdefault(agent, []).append((start, end))
        if state == "talking":
            self._talk[agent] = self._talk.get(agent, 0.0) + end - start
        slots, t0 = self._busy_slot, self._grid.t0
        i = int((start - t0) // 3600)
        if 0 <= i < len(slots) and end <= t0 + (i + 1) * 3600.0:
            slots[i] += end - start  # the usual case: within one hour
        else:
            _spread(slots, t0, start, end)

    # ------------------------------------------------------------------ result

    def finish(self, end: float) -> dict[str, object]:
        """Close open intervals at ``end`` (the last simulated instant) and build the dict."""
        for agent, state in self._state.items():
            if state in _BUSY:
                self._add_busy(agent, state, self._state_since[agent], end)
                self._state_since[agent] = end
        for agent, since in self._duty_since.items():
            self._duty_spans.setdefault(agent, []).append((since, end))
        self._duty_since.clear()
        for agent in list(self._available_since):
            if self._available_since[agent] is not None:
                self.agent_available(agent, False, end)
        available_slot = [0.0] * len(self._grid.day)
        staffed_slot = [0.0] * len(self._grid.day)
        mobile_slot = [0.0] * len(self._grid.day)
        staffed: dict[str, float] = {}
        on_post: dict[str, Intervals] = {}
        for agent in dict.fromkeys([*self._available, *self._busy_spans]):
            spans = self._available.get(agent, [])
            spans = [(a, min(b, end)) for a, b in spans if a < end]  # breaks planned later
            shift = self._shifts.get(agent)
            spans = on_post[agent] = _intersect(spans, shift) if shift is not None else spans
            for a, b in spans:
                _spread(available_slot, self._grid.t0, a, b)
            working = _union(spans, self._busy_spans.get(agent, []))
            staffed[agent] = sum(b - a for a, b in working)
            for a, b in working:
                _spread(staffed_slot, self._grid.t0, a, b)
        self._add_duty(mobile_slot, on_post, end)

        overall = self.overall.summary()
        busy_total = sum(self._busy.values())
        staffed_total = sum(staffed.values())
        kpis: dict[str, object] = {
            "calls": self.calls,
            "answered": self.outcomes["answered"],
            "abandoned": self.reasons["abandoned"],
            "missed": self.outcomes["missed"],
            "rejected": self.outcomes["rejected"],
            "completed": self.outcomes["completed"],
            "unfinished": self.calls - self.finished,
            "lost": sum(1 for s in self.lost_status.values() if s == "lost"),
            "callbacks": self.callbacks["connected"],
            "callback_outcomes": dict(sorted(self.callbacks.items())),
            "voicemails": self.voicemails,
            "channel_exhausted": self.exhausted,
            "service_level": overall["service_level"],
            "service_level_target": self._sl_target(),
            "service_level_goal": STAFFING_TARGET,
            "asa": overall["asa"],
            "mean_wait": overall["mean_wait"],
            "p90_wait": overall["p90_wait"],
            "occupancy": _ratio(busy_total, staffed_total),
            "reasons": dict(sorted(self.reasons.items())),
            "eta_accuracy": self._eta_accuracy(),
            "per_queue": self._per_queue(),
            "per_hour": self._per_hour(available_slot, staffed_slot, mobile_slot),
            "per_agent": self._per_agent(staffed),
            "per_number": {
                n: {"calls": c[0], "exhausted": c[1]} for n, c in self.per_number.items()
            },
            "heatmap": {
                "calls": self.heat_calls,
                "missed": self.heat_missed,
                "days_observed": self._days_observed(),
            },
        }
        kpis["staffing"] = self._staffing(available_slot, mobile_slot)
        return kpis

    def _add_duty(self, mobile_slot: list[float], on_post: dict[str, Intervals],
                  end: float) -> None:
        """Add to ``mobile_slot`` the agents on duty by mobile in each hour: rung off post
        (not available on shift) for a call that arrived in the hour, or engaged (ringing,
        talking, wrap-up) in it since a ring off post. Such an agent counts once in the
        hour, less the part of it they were on post (already in ``agents_on``)."""
        t0, last = self._grid.t0, len(mobile_slot) - 1
        duty: dict[str, set[int]] = defaultdict(set)
        for agent, i in self._duty_hours:
            duty[agent].add(i)
        for agent, spans in self._duty_spans.items():
            for a, b in spans:
                if a < end:
                    # The hours [a, b) touches (one ending on the hour is not in the next).
                    first = min(max(int((a - t0) // 3600), 0), last)
                    upto = math.ceil((min(b, end) - t0) / 3600) - 1
                    duty[agent].update(range(first, min(max(upto, first), last) + 1))
        for agent, slots in duty.items():
            there = [0.0] * len(mobile_slot)  # seconds on post per hour, for this agent
            for a, b in on_post.get(agent, []):
                _spread(there, t0, a, b)
            for i in slots:
                mobile_slot[i] += 1.0 - there[i] / 3600

    def _sl_target(self) -> float:
        """The most common queue threshold (queues report their own in ``per_queue``)."""
        if not self._thresholds:
            return DEFAULT_SL_SECONDS
        return Counter(self._thresholds.values()).most_common(1)[0][0]

    def _eta_accuracy(self) -> dict[str, dict[str, float | int | None]]:
        seen = set(self._eta_errors) | set(self._eta_unknown)
        names = [*_CONTRACT_ESTIMATORS, *sorted(seen - set(_CONTRACT_ESTIMATORS))]
        out: dict[str, dict[str, float | int | None]] = {}
        for name in names:
            errors = self._eta_errors.get(name, [])
            out[name] = {
                "mae": _mean(errors),
                "bias": self._eta_signed[name] / len(errors) if errors else None,
                "n": len(errors),
                "infinite": self._eta_unknown[name],
                "callers": self._eta_callers[name],
                "under_announced": _ratio(self._eta_under[name], self._eta_callers[name]),
            }
        return out

    def _per_queue(self) -> dict[str, dict[str, object]]:
        out: dict[str, dict[str, object]] = {}
        for name, stats in self.per_queue.items():
            exits = self.queue_exits[name]
            row: dict[str, object] = dict(stats.summary())
            row["timeout"] = exits["timeout"]
            row["service_level_target"] = self._thresholds.get(name, DEFAULT_SL_SECONDS)
            row["exits"] = dict(sorted(exits.items()))
            row["callback_exits"] = dict(sorted(self.callback_exits[name].items()))
            out[name] = row
        return out

    def _per_hour(
        self, available_slot: list[float], staffed_slot: list[float], mobile_slot: list[float]
    ) -> list[dict[str, object]]:
        grid = self._grid
        rows: list[dict[str, object]] = []
        for i in range(grid.hours):
            summary = self.per_hour[i].summary()
            rows.append({
                "day": grid.day[i],
                "weekday": grid.weekday[i],
                "hour": grid.hour[i],
                "calls": summary["calls"],
                "answered": summary["answered"],
                "abandoned": summary["abandoned"],
                "service_level": summary["service_level"],
                "mean_wait": summary["mean_wait"],
                "occupancy": _ratio(self._busy_slot[i], staffed_slot[i]),
                "agents_on": available_slot[i] / 3600,
                "agents_by_mobile": mobile_slot[i],
            })
        return rows

    def _per_agent(self, staffed: dict[str, float]) -> dict[str, dict[str, object]]:
        out: dict[str, dict[str, object]] = {}
        for agent in self._state:
            delays = self._answer_delays.get(agent, [])
            out[agent] = {
                "answered": self._answered_by[agent],
                "callbacks": self._callbacks_by[agent],
                "not_answered": self._not_answered[agent],
                "talk_time": self._talk.get(agent, 0.0),
                "avg_answer": _mean(delays),
                "occupancy": _ratio(self._busy.get(agent, 0.0), staffed.get(agent, 0.0)),
            }
        return out

    def _days_observed(self) -> list[int]:
        days = [0] * 7
        for date in self._grid.dates:
            days[date.weekday()] += 1
        return days

    def _staffing(
        self, available_slot: list[float], mobile_slot: list[float]
    ) -> list[dict[str, object]]:
        from switchboard.sim import erlang

        mean_handle = self.talk_sum / self.outcomes["answered"] if self.outcomes["answered"] else 0
        if mean_handle <= 0:
            mean_handle = 180.0  # nothing answered: assume a typical call
        days = self._days_observed()
        grid = self._grid
        agents_on = [[0.0] * 24 for _ in range(7)]
        by_mobile = [[0.0] * 24 for _ in range(7)]
        # The hour slots of each weekday and local hour: one a day, but a DST change skips
        # a local hour or repeats it, and figures are per real hour.
        slots = [[0] * 24 for _ in range(7)]
        # A duty person is seen only when rung: the days an hour wanted nobody say nothing
        # about who was on duty then, so the mean is over the days it wanted someone.
        duty_days = [[0] * 24 for _ in range(7)]
        for i in range(grid.hours):
            d, h = grid.weekday[i], grid.hour[i]
            agents_on[d][h] += available_slot[i] / 3600
            by_mobile[d][h] += mobile_slot[i]
            slots[d][h] += 1
            duty_days[d][h] += bool(self._wanting_slot[i] or mobile_slot[i])

        def per_day(counts: list[list[int]]) -> list[list[float]]:
            """Counts scaled to one slot per observed day (staffing_advice divides by days)."""
            return [[count * days[d] / slots[d][h] if slots[d][h] else 0.0
                     for h, count in enumerate(row)] for d, row in enumerate(counts)]

        advice = erlang.staffing_advice(
            per_day(self.heat_calls), mean_handle, STAFFING_TARGET, self._sl_target(),
            self._mean_patience(), days, wanting=per_day(self.heat_wanting),
        )
        rows: list[dict[str, object]] = []
        for row in advice:
            d, h, seen = row.weekday, row.hour, slots[row.weekday][row.hour]
            on = agents_on[d][h] / seen if seen else 0.0
            mobile = by_mobile[d][h] / duty_days[d][h] if duty_days[d][h] else 0.0
            rows.append({
                "weekday": d,
                "hour": h,
                "calls_per_hour": row.calls_per_hour,
                "agent_calls_per_hour": row.agent_calls_per_hour,
                "erlangs": row.erlangs,
                "agents_needed": row.agents_needed,
                "channels_needed": row.channels_needed,
                "agents_on": on,
                "agents_by_mobile": mobile,
                "agents_reachable": on + mobile,
            })
        return rows

    def _mean_patience(self) -> float | None:
        """Traffic-weighted mean patience, None (Erlang C) if any stream waits forever."""
        from switchboard.sim.traffic import dist_mean

        means = [t.patience for t in self._traffic]
        if not means or any(p is None for p in means):
            return None
        return sum(dist_mean(p) for p in means if p is not None) / len(means)


def _spread(slots: list[float], t0: float, start: float, end: float) -> None:
    """Add the interval [start, end) to per-hour slot totals."""
    last = len(slots) - 1
    while start < end:
        i = int((start - t0) // 3600)
        stop = min(end, t0 + (i + 1) * 3600.0)
        slots[min(max(i, 0), last)] += stop - start
        start = stop


def _union(a: Intervals, b: Intervals) -> Intervals:
    """Union of two sorted lists of disjoint intervals, as one such list."""
    out: Intervals = []
    for lo, hi in sorted(a + b):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _intersect(a: Intervals, b: Intervals) -> Intervals:
    """Intersection of two sorted lists of disjoint intervals."""
    out: Intervals = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _inside(t: float, spans: Intervals) -> bool:
    """Whether ``t`` lies in one of the sorted, disjoint half-open ``spans``."""
    i = bisect.bisect_right(spans, (t, math.inf)) - 1
    return i >= 0 and spans[i][0] <= t < spans[i][1]
