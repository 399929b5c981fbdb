"""The live view's figures, folded from the product's decisions and assignments."""

from __future__ import annotations

from interaction_streams.domain.routing.policy import parse_routing_policy
from interaction_streams.simulator.dashboard import Dashboard

POLICY = parse_routing_policy(
    """
version: "t"
queues:
  fast: {channel: voice, serviceLevel: {percent: 80, withinSeconds: 10}}
  slow: {channel: voice, serviceLevel: {percent: 80, withinSeconds: 60}}
rules:
  - {name: all, when: "true", target: {queue: fast}}
""",
    "t.yaml",
)


def at(seconds: int) -> str:
    return f"2026-11-26T09:{seconds // 60:02d}:{seconds % 60:02d}Z"


def queued(board: Dashboard, iid: str, queue: str, t: int, n: int = 0) -> None:
    board.on_decision(
        {
            "id": f"q-{iid}-{n}",
            "kind": "queued",
            "interactionId": iid,
            "queue": queue,
            "at": at(t),
            "reason": "enqueued",
        }
    )


def assigned(board: Dashboard, iid: str, t: int) -> None:
    board.on_assignment(
        {"id": f"a-{iid}", "kind": "assign", "agentId": "a", "interactionId": iid, "at": at(t)}
    )


def test_service_level_counts_answers_within_the_queue_target_against_answers_and_abandons() -> (
    None
):
    board = Dashboard(policy=POLICY)
    queued(board, "c1", "fast", 0)
    queued(board, "c2", "fast", 0)
    queued(board, "c3", "slow", 0)
    queued(board, "c4", "slow", 0)
    assigned(board, "c1", 5)  # within 10 s
    assigned(board, "c2", 30)  # not within 10 s
    assigned(board, "c3", 30)  # within 60 s
    board.on_decision(
        {
            "id": "d4",
            "kind": "dequeued",
            "interactionId": "c4",
            "queue": "slow",
            "at": at(40),
            "reason": "abandoned",
        }
    )
    assert (board.queues["fast"].answered, board.queues["fast"].within_sl) == (2, 1)
    assert board.queues["slow"].service_level == 0.5
    assert (board.answered, board.abandoned, board.waiting) == (3, 1, 0)
    assert board.service_level == 2 / 4


def test_a_requeue_keeps_the_first_wait_and_duplicates_count_once() -> None:
    board = Dashboard(policy=POLICY)
    queued(board, "c1", "fast", 0)
    queued(board, "c1", "slow", 20, n=1)  # an overflow or a step moved it: same wait
    queued(board, "c1", "slow", 20, n=1)  # re-sent after a restart
    assert board.queues["slow"].oldest_ms(30_000 + 1_795_683_600_000) == 30_000
    assert board.waiting == 1 and board.decisions["enqueued"] == 2
    assigned(board, "c1", 50)
    assigned(board, "c1", 50)
    assert board.queues["slow"].answered == 1 and board.assignments["assign"] == 1
