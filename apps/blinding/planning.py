"""The blind assignment plan, as pure functions over ids (no ORM).

Rating protocol: every output goes to ``k`` distinct experts. Items are taken in
an order that interleaves the models, and each goes to the ``k`` experts with the
lowest load so far; among equally loaded experts, those who have seen the item's
model least come first, then a seeded random draw. Taking the ``k`` least loaded
experts keeps every load within one of every other (if loads are all ``L`` or
``L+1`` before an item, they are all ``L``/``L+1`` or ``L+1``/``L+2`` after it).

Pairwise protocol: for each prompt, every pair of outputs from two different
models is one item, given to ``k`` experts in the same way, balancing the model
pair per expert; its left/right orientation is chosen per expert so that each
model appears on the left and on the right about equally often for that expert.

Then, per expert: quality-control items are added (attention checks with a known
answer, and repeats of an earlier item shown again later, with sides swapped for
pairs), and the expert's list is shuffled. Everything is drawn from one
``random.Random(seed)``, so a plan is reproducible from its recorded seed.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

ExpertId = Hashable


@dataclass(frozen=True)
class PlanOutput:
    """An output as the planner sees it: its id, its model and its prompt."""

    id: int
    model: Hashable
    prompt: Hashable


@dataclass(frozen=True)
class PlanItem:
    """What one expert is shown at one position of their queue.

    ``left`` is the rated output (rating protocol) or the output shown on the left;
    ``right`` is the right-hand output for pairs. ``kind`` is "rating" or "pair";
    ``qc`` is "", "attention" or "repeat"; ``repeat_of`` is the position of the
    original item in the expert's queue for repeats.
    """

    kind: str
    left: int
    right: int | None = None
    qc: str = ""
    repeat_of: int | None = None


@dataclass
class Plan:
    seed: int
    queues: dict[ExpertId, list[PlanItem]] = field(default_factory=dict)

    def items(self) -> list[tuple[ExpertId, int, PlanItem]]:
        return [(e, i, item) for e, queue in self.queues.items() for i, item in enumerate(queue)]


class PlanError(ValueError):
    """A plan that cannot be built as asked (too few experts for k, no outputs…)."""


def _interleave_by_model(outputs: Sequence[PlanOutput], rng: random.Random) -> list[PlanOutput]:
    by_model: dict[Hashable, list[PlanOutput]] = defaultdict(list)
    for output in outputs:
        by_model[output.model].append(output)
    lists = [by_model[m] for m in sorted(by_model, key=repr)]
    for group in lists:
        rng.shuffle(group)
    rng.shuffle(lists)
    return [o for row in itertools.zip_longest(*lists) for o in row if o is not None]


def _pick_experts(
    experts: Sequence[ExpertId],
    k: int,
    load: Counter,
    seen: dict,
    key: Hashable,
    rng: random.Random,
    exclude: set = frozenset(),
) -> list[ExpertId]:
    """The ``k`` experts with the lowest load, then the fewest items of ``key``."""
    candidates = [e for e in experts if e not in exclude]
    if len(candidates) < k:
        raise PlanError(
            f"{k} distinct experts are needed per item, only {len(candidates)} available"
        )
    draws = {e: rng.random() for e in candidates}
    candidates.sort(key=lambda e: (load[e], seen[e][key], draws[e]))
    return candidates[:k]


def rating_assignments(
    outputs: Sequence[PlanOutput], experts: Sequence[ExpertId], *, k: int, rng: random.Random
) -> dict[ExpertId, list[PlanItem]]:
    """Give every output to ``k`` distinct experts, balancing loads and models."""
    load: Counter = Counter()
    seen: dict[ExpertId, Counter] = defaultdict(Counter)
    queues: dict[ExpertId, list[PlanItem]] = {e: [] for e in experts}
    for output in _interleave_by_model(outputs, rng):
        for expert in _pick_experts(experts, k, load, seen, output.model, rng):
            load[expert] += 1
            seen[expert][output.model] += 1
            queues[expert].append(PlanItem(kind="rating", left=output.id))
    return queues


def model_pairs(outputs: Sequence[PlanOutput]) -> list[tuple[PlanOutput, PlanOutput]]:
    """For each prompt, every pair of its outputs made by two different models."""
    by_prompt: dict[Hashable, list[PlanOutput]] = defaultdict(list)
    for output in outputs:
        by_prompt[output.prompt].append(output)
    pairs = []
    for prompt in sorted(by_prompt, key=repr):
        group = sorted(by_prompt[prompt], key=lambda o: o.id)
        pairs += [(a, b) for a, b in itertools.combinations(group, 2) if a.model != b.model]
    return pairs


def pairwise_assignments(
    outputs: Sequence[PlanOutput], experts: Sequence[ExpertId], *, k: int, rng: random.Random
) -> dict[ExpertId, list[PlanItem]]:
    """Give every cross-model pair of a prompt to ``k`` experts, balancing loads,
    model pairs and left/right positions per expert."""
    pairs = model_pairs(outputs)
    rng.shuffle(pairs)
    # interleave the model pairs so that every stretch of the list mixes them
    by_key: dict[frozenset, list] = defaultdict(list)
    for a, b in pairs:
        by_key[frozenset((a.model, b.model))].append((a, b))
    ordered = [p for row in itertools.zip_longest(*by_key.values()) for p in row if p is not None]

    load: Counter = Counter()
    seen: dict[ExpertId, Counter] = defaultdict(Counter)
    left_minus_right: dict[ExpertId, Counter] = defaultdict(Counter)
    queues: dict[ExpertId, list[PlanItem]] = {e: [] for e in experts}
    for a, b in ordered:
        key = frozenset((a.model, b.model))
        for expert in _pick_experts(experts, k, load, seen, key, rng):
            load[expert] += 1
            seen[expert][key] += 1
            balance = left_minus_right[expert]
            # put on the left the model this expert has seen on the left less often
            swap_gain = balance[a.model] - balance[b.model]
            if swap_gain > 0 or (swap_gain == 0 and rng.random() < 0.5):
                a, b = b, a
            balance[a.model] += 1
            balance[b.model] -= 1
            queues[expert].append(PlanItem(kind="pair", left=a.id, right=b.id))
    return queues


def add_quality_control(
    queue: list[PlanItem],
    *,
    attention_ids: Sequence[int],
    attention_rate: float,
    repeat_rate: float,
    rng: random.Random,
    attention_partners: Mapping[int, Sequence[int]] | None = None,
) -> list[PlanItem]:
    """Shuffle an expert's queue and add QC items.

    Attention checks (outputs deliberately degraded, with a known expected answer)
    are inserted at random positions; repeats copy a random earlier item to a later
    position, at least a quarter of the queue away when the queue allows it, with
    left and right swapped for pairs.

    ``attention_partners`` maps an attention output to the real outputs it may be
    paired with (those of the prompt it is shown under), so that a pair with an
    attention check shows two answers to the same prompt like every other pair.
    One queue gets each check at most once while there are unused ones.
    """
    items = list(queue)
    rng.shuffle(items)
    n_attention = round(len(items) * attention_rate) if attention_ids else 0
    used: set[int] = set()
    for _ in range(n_attention):
        kind = items[0].kind if items else "rating"
        candidates = list(attention_ids)
        if kind == "pair" and attention_partners is not None:
            candidates = [a for a in candidates if attention_partners.get(a)] or candidates
        candidates = [a for a in candidates if a not in used] or candidates
        check_id = rng.choice(candidates)
        used.add(check_id)
        right = None
        if kind == "pair":
            partners = (attention_partners or {}).get(check_id)
            if partners:
                partner = rng.choice(sorted(partners))
            else:
                partner = rng.choice(items).left if items else check_id
            check_id, right = (check_id, partner) if rng.random() < 0.5 else (partner, check_id)
        items.insert(
            rng.randrange(len(items) + 1),
            PlanItem(kind=kind, left=check_id, right=right, qc="attention"),
        )
    n_repeat = round(len(queue) * repeat_rate)
    gap = max(1, len(items) // 4)
    for _ in range(n_repeat):
        originals = [i for i, it in enumerate(items) if not it.qc and i + gap <= len(items)]
        if not originals:
            break
        index = rng.choice(originals)
        original = items[index]
        position = rng.randrange(index + gap, len(items) + 1)
        if original.kind == "pair":
            copy = PlanItem(kind="pair", left=original.right, right=original.left, qc="repeat")
        else:
            copy = PlanItem(kind=original.kind, left=original.left, qc="repeat")
        items.insert(position, copy)
    # repeats point at the position of their original in the final list
    first_position: dict[tuple, int] = {}
    final = []
    for position, item in enumerate(items):
        key = (item.kind, frozenset((item.left, item.right)))
        if item.qc == "repeat":
            final.append(
                PlanItem(
                    kind=item.kind,
                    left=item.left,
                    right=item.right,
                    qc="repeat",
                    repeat_of=first_position.get(key),
                )
            )
            continue
        if not item.qc:
            first_position.setdefault(key, position)
        final.append(item)
    return final


def plan_build(
    outputs: Sequence[PlanOutput],
    experts: Sequence[ExpertId],
    *,
    protocol: str,
    k: int,
    seed: int,
    attention_ids: Sequence[int] = (),
    attention_rate: float = 0.0,
    repeat_rate: float = 0.0,
    attention_partners: Mapping[int, Sequence[int]] | None = None,
) -> Plan:
    """Build a whole plan. ``protocol`` is "rating", "pairwise" or "both"."""
    if not outputs:
        raise PlanError("there are no outputs to assign")
    if not experts:
        raise PlanError("there are no experts to assign to")
    if k > len(experts):
        raise PlanError(f"k = {k} distinct experts per item, but only {len(experts)} experts")
    rng = random.Random(seed)
    experts = sorted(experts, key=repr)
    queues: dict[ExpertId, list[PlanItem]] = {e: [] for e in experts}
    if protocol in {"rating", "both"}:
        for expert, items in rating_assignments(outputs, experts, k=k, rng=rng).items():
            queues[expert] += items
    if protocol in {"pairwise", "both"}:
        if not model_pairs(outputs):
            raise PlanError("pairwise comparison needs outputs of two models for the same prompt")
        for expert, items in pairwise_assignments(outputs, experts, k=k, rng=rng).items():
            queues[expert] += items
    plan = Plan(seed=seed)
    for expert in experts:
        plan.queues[expert] = add_quality_control(
            queues[expert],
            attention_ids=attention_ids,
            attention_rate=attention_rate,
            repeat_rate=repeat_rate,
            rng=rng,
            attention_partners=attention_partners,
        )
    return plan


def reassign(
    unstarted: Sequence[tuple[ExpertId, PlanItem]],
    experts: Sequence[ExpertId],
    *,
    current_load: Counter,
    holders: dict[tuple, set],
    seed: int,
) -> list[tuple[ExpertId, PlanItem]]:
    """Give the unstarted items of experts who left to the remaining ``experts``.

    Each item goes to the least-loaded remaining expert who does not already hold
    the same item (``holders`` maps an item key to the experts holding it).
    """
    rng = random.Random(seed)
    load = Counter(current_load)
    moved = []
    for _, item in unstarted:
        key = (item.kind, frozenset((item.left, item.right)))
        taken = holders.setdefault(key, set())
        candidates = [e for e in experts if e not in taken]
        if not candidates:
            raise PlanError("no remaining expert can take an item without seeing it twice")
        draws = {e: rng.random() for e in candidates}
        target = min(candidates, key=lambda e: (load[e], draws[e]))
        load[target] += 1
        taken.add(target)
        moved.append((target, item))
    return moved


def item_key(item: PlanItem) -> tuple:
    """What makes two queue items "the same item" for the k-distinct-experts rule:
    the kind and the outputs, whatever their left/right order."""
    return (item.kind, frozenset((item.left, item.right)))


def newcomer_moves(
    movable: Mapping[ExpertId, Sequence[tuple[Hashable, PlanItem]]],
    newcomer: ExpertId,
    *,
    current_load: Counter,
    held: set,
    model_of: Mapping[int, Hashable],
    seed: int,
) -> list[tuple[ExpertId, Hashable]]:
    """Which unstarted items to move to an expert who joins a running plan.

    ``movable`` maps each expert to their unstarted items as ``(ref, item)`` (``ref``
    names the item for the caller); ``current_load`` counts every expert's items;
    ``held`` holds the :func:`item_key` of the items the newcomer already has.
    One item at a time is taken from the most loaded expert who can give one the
    newcomer does not hold (among those, one of the model the newcomer has seen
    least), while that expert has at least two items more than the newcomer: so
    each item keeps ``k`` distinct experts, and loads end within one of each
    other as far as unstarted work allows. Returns ``(donor, ref)`` in move order.
    """
    rng = random.Random(seed)
    load = Counter(current_load)
    load[newcomer] += 0
    pools: dict[ExpertId, list[tuple[Hashable, PlanItem]]] = {}
    for expert in sorted(movable, key=repr):
        if expert != newcomer:
            pool = list(movable[expert])
            rng.shuffle(pool)
            pools[expert] = pool
    seen: Counter = Counter()
    held = set(held)

    def model_key(item: PlanItem) -> Hashable:
        if item.right is None:
            return model_of.get(item.left)
        return frozenset((model_of.get(item.left), model_of.get(item.right)))

    moves: list[tuple[ExpertId, Hashable]] = []
    while True:
        donors = [e for e in pools if pools[e] and load[e] - load[newcomer] >= 2]
        donors.sort(key=lambda e: (-load[e], repr(e)))
        for donor in donors:
            options = [i for i, (_, item) in enumerate(pools[donor]) if item_key(item) not in held]
            if not options:
                continue
            index = min(options, key=lambda i: seen[model_key(pools[donor][i][1])])
            ref, item = pools[donor].pop(index)
            held.add(item_key(item))
            seen[model_key(item)] += 1
            load[donor] -= 1
            load[newcomer] += 1
            moves.append((donor, ref))
            break
        else:
            return moves
