"""Config lint (MISSION B5), call flow: steps that can never run, and loops between schemes.

A list of steps runs up to the first step that never hands back: one that ends the call or
sends it elsewhere, or a queue the caller cannot leave for its fallback. A scheme that goes
to another by itself (a goto, through a queue's fallback or an IVR's timeout) and so on back
to itself sends a call round forever.
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING

from switchboard.config.loader import PathKey
from switchboard.config.model import (
    AddToListStep,
    CallbackStep,
    Config,
    GotoStep,
    HangupStep,
    IvrStep,
    Queue,
    QueueStep,
    RejectStep,
    Step,
    VoicemailStep,
    step_kind,
)

if TYPE_CHECKING:
    from switchboard.config.lint import Linter, StepList

# Steps after which nothing in the same list runs: the call is over or went elsewhere.
_TERMINAL = (RejectStep, HangupStep, GotoStep, VoicemailStep, IvrStep, CallbackStep)


def has_exit(queue: Queue) -> bool:
    """Whether a caller can leave the queue to its fallback and the next step.

    Not by an answer or hanging up, and not by the exit key either: that leads to a
    callback or voicemail, never back to the steps.
    """
    return (queue.max_wait is not None or queue.max_length is not None
            or queue.leave_when_empty or not queue.join_empty)


def reachable(config: Config, steps: list[Step]) -> int:
    """How many steps of a list can run: up to the first that never hands back."""
    for i, step in enumerate(steps):
        if isinstance(step, _TERMINAL):
            return i + 1
        if isinstance(step, QueueStep):
            queue = config.queues.get(step.queue.name)
            if queue is not None and not has_exit(queue):
                return i + 1
    return len(steps)


def check_unreachable(lint: Linter, steps: StepList) -> None:
    """Steps after one that never hands back."""
    cut = reachable(lint.config, steps.steps)
    if cut < len(steps.steps):
        blocker, after = steps.steps[cut - 1], (*steps.path, cut)
        blocker_line = lint.line((*steps.path, cut - 1))
        if isinstance(blocker, QueueStep):
            lint.warn(after, f"{steps.label}: unreachable step: queue "
                      f"'{blocker.queue.name}' (line {blocker_line}) has no way out (no "
                      "max_wait or max_length, and leave_when_empty is off); set max_wait on "
                      "the queue or remove the steps")
        else:
            lint.warn(after, f"{steps.label}: unreachable step: the '{step_kind(blocker)}' "
                      f"step above (line {blocker_line}) ends the call's path; remove the "
                      "steps after it or move them above it")


def check_loops(lint: Linter) -> None:
    """A cycle of gotos between schemes sends a call round forever.

    A scheme goes to another by a goto in its steps, or in the steps it leads to without
    the caller choosing: a queue's fallback, an IVR's on_timeout (a menu option is the
    caller's choice, and "back to the main menu" is a loop on purpose).
    """
    # scheme -> scheme it goes to -> (where the goto is, what it goes through)
    edges: dict[str, dict[str, tuple[PathKey, str]]] = {
        name: {} for name in lint.config.schemes}
    for steps in lint.step_lists():
        if steps.scheme is not None:
            _gotos(lint.config, steps.path, steps.steps, "", edges[steps.scheme], set())
    for cycle in _cycles({k: sorted(v) for k, v in edges.items()}):
        hops = [(a, b, *edges[a][b]) for a, b in pairwise(cycle)]
        through = "; ".join(f"{a} -> {b} through {via}" for a, b, _, via in hops if via)
        lint.warn(hops[0][2], f"loop between schemes: {' -> '.join(cycle)}"
                  f"{f' ({through})' if through else ''}; a call would go round forever; "
                  "end one of them with a queue, voicemail or hangup instead of goto")


def _gotos(config: Config, path: PathKey, steps: list[Step], via: str,
           found: dict[str, tuple[PathKey, str]], seen: set[PathKey]) -> None:
    """Collect the schemes ``steps`` go to by themselves (see ``check_loops``)."""
    for j, step in enumerate(steps[: reachable(config, steps)]):
        nested: tuple[PathKey, list[Step], str] | None = None
        if isinstance(step, GotoStep) and step.goto in config.schemes:
            found.setdefault(step.goto, ((*path, j, "goto"), via))
        elif isinstance(step, QueueStep):
            queue = config.queues.get(step.queue.name)
            if queue is not None and has_exit(queue):
                nested = (("queues", step.queue.name, "fallback"), queue.fallback,
                          f"queue '{step.queue.name}' fallback")
        elif isinstance(step, IvrStep) and step.ivr in config.ivr:
            nested = (("ivr", step.ivr, "on_timeout"), config.ivr[step.ivr].on_timeout,
                      f"ivr '{step.ivr}' on_timeout")
        if nested is not None and nested[0] not in seen:
            seen.add(nested[0])
            _gotos(config, nested[0], nested[1], via or nested[2], found, seen)


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Each elementary cycle once, starting at its smallest node, closed: [a, b, a]."""
    found: list[list[str]] = []

    def visit(start: str, node: str, trail: list[str]) -> None:
        for target in graph.get(node, []):
            if target == start:
                found.append([*trail, start])
            elif target > start and target not in trail and len(found) < 50:
                visit(start, target, [*trail, target])

    for start in sorted(graph):
        visit(start, start, [start])
    return found


def check_queue_loops(lint: Linter) -> None:
    """A queue that can refuse a caller (``max_length``, ``join_empty: false``) and whose
    fallback joins it again, before any step that waits (a prompt, a ring), sends a refused
    caller round in no time: the core ends such a call after 200 steps (routing.md)."""
    config = lint.config
    for name, queue in config.queues.items():
        if queue.max_length is None and queue.join_empty:
            continue
        trail = _rejoins(config, name, name, set())
        if trail is not None:
            lint.warn(("queues", name, "fallback"),
                      f"queue '{name}' fallback joins {' -> '.join(trail)} again at once: "
                      "when the queue is full or empty a caller goes round in a loop and is "
                      "cut off; play a prompt before joining again, or send the call elsewhere")


def _rejoins(config: Config, origin: str, name: str, seen: set[str]) -> list[str] | None:
    """The queues a refused caller of ``name`` joins without waiting, up to ``origin``."""
    seen.add(name)
    for step in config.queues[name].fallback:
        if isinstance(step, AddToListStep):
            continue  # runs and goes on
        if not isinstance(step, QueueStep):
            return None  # waits (a prompt, a ring...) or leaves the queues
        target = step.queue.name
        queue = config.queues.get(target)
        if queue is None:
            return None
        if target == origin:
            return [f"queue '{target}'"]
        if target in seen or (queue.max_length is None and queue.join_empty):
            return None  # a queue that always takes the caller: it waits there
        rest = _rejoins(config, origin, target, seen)
        return None if rest is None else [f"queue '{target}'", *rest]
    return None
