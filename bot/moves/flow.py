"""Moving to another community with one's points (通存通兑): `/move 新社区`, and the workers'
decisions (`/approve M3` from the old community, then `/approve M3` from the new one): moves
are the `M` kind of what /pending lists and /approve and /reject decide."""

from __future__ import annotations

from typing import Any

from bot.dialogs.common import reason_step
from bot.dialogs.core import Context, Decider, Reply, option, reply
from bot.dialogs.parse import parse_ref
from bot.kernel.errors import DomainError
from bot.kernel.i18n import T, Text
from bot.moves.service import OPEN, MoveOutcome, MoveView
from models.family import MoveStatus


def move_status(m: MoveView) -> Text:
    return T(f"move.status.{m.status}")


def move(ctx: Context, args: str) -> list[Reply]:
    target = args.strip()
    if target.lower() in ("cancel", "取消"):
        m = ctx.services.moves.cancel(ctx.actor.person_id)
        return [reply("move.cancelled", id=f"M{m.id}", to=m.to_community)]
    if not target:
        mine = ctx.services.moves.mine(ctx.actor.person_id)
        if mine is None:
            return [reply("move.usage")]
        # Only a move under way can be withdrawn.
        key = "move.show" if mine.status in OPEN else "move.show_closed"
        return [reply(key, id=f"M{mine.id}", to=mine.to_community, status=move_status(mine))]
    m = ctx.services.moves.request(ctx.actor.person_id, ctx.community_id, target)
    origin: dict[str, Any] = {"from": m.from_community}  # `from` is a Python keyword
    return [reply("move.requested", id=f"M{m.id}", to=m.to_community, **origin)]


def pending_moves(ctx: Context) -> list[Reply]:
    """Moves out of this community to approve and into it to accept, in /pending."""
    waiting = ctx.services.moves.waiting(ctx.actor.person_id, ctx.community_id)
    return [
        Reply(
            T(
                "move.pending_line",
                id=f"M{m.id}",
                name=m.person_name,
                status=move_status(m),
                to=m.to_community,
                **{"from": m.from_community},
            ),
            (
                option(
                    f"/approve_move M{m.id}", "move.accept" if m.status == MoveStatus.APPROVED else "pending.approve"
                ),
                option(f"/reject_move M{m.id}", "pending.reject"),
            ),
            columns=2,
        )
        for m in waiting
    ]


def _approve_moves(ctx: Context, ids: list[int]) -> list[Reply]:
    out: list[Reply] = []
    for i in ids:  # each on its own: one refusal does not hold up the rest
        try:
            out.extend(approve_move(ctx, f"M{i}"))
        except DomainError as exc:
            out.append(reply(exc.key, **exc.params))
    return out


def _reject_move_ref(ctx: Context, move_id: int, reason: str) -> list[Reply]:
    return reject_move(ctx, f"M{move_id} {reason}")


DECIDER = Decider("M", _approve_moves, _reject_move_ref, pending=pending_moves)  # /approve M3 beside /approve_move


def approve_move(ctx: Context, args: str) -> list[Reply]:
    move_id = parse_ref(args.strip(), "M") if args.strip() else None
    if move_id is None:
        return [reply("move.approve_usage")]
    return [_decided(ctx.services.moves.approve(ctx.actor.person_id, move_id))]


def _decided(outcome: MoveOutcome) -> Reply:
    m = outcome.move
    if not outcome.changed:
        return reply("move.already", id=f"M{m.id}", status=move_status(m))
    if m.status == MoveStatus.DONE:
        return reply("move.accepted", id=f"M{m.id}", name=m.person_name, points=m.amount or 0, to=m.to_community)
    if m.status == MoveStatus.REJECTED:
        return reply("move.rejected", id=f"M{m.id}", name=m.person_name)
    return reply("move.approved", id=f"M{m.id}", name=m.person_name, to=m.to_community)


def reject_move(ctx: Context, args: str) -> list[Reply]:
    ref, _, reason = args.strip().partition(" ")
    move_id = parse_ref(ref, "M") if ref else None
    if move_id is None:
        return [reply("move.reject_usage")]
    if not reason.strip():
        return _ask_move_reason(ctx, move_id)
    return _reject_move(ctx, move_id, reason)


def _reject_move(ctx: Context, move_id: int, reason: str) -> list[Reply]:
    return [_decided(ctx.services.moves.reject(ctx.actor.person_id, move_id, reason))]


_ask_move_reason, reject_move_reason = reason_step("reject_move", "move.ask_reason", "M", _reject_move)
