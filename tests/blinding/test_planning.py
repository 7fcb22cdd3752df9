"""The assignment plan: coverage, balance, reproducibility and randomisation."""

import random
from collections import Counter, defaultdict

import pytest
from scipy import stats

from apps.blinding.planning import (
    PlanError,
    PlanOutput,
    model_pairs,
    plan_build,
    reassign,
)


def study_outputs(n_prompts=45, models=("A", "B", "C")) -> list[PlanOutput]:
    outputs, next_id = [], 1
    for prompt in range(n_prompts):
        for model in models:
            outputs.append(PlanOutput(id=next_id, model=model, prompt=prompt))
            next_id += 1
    return outputs


EXPERTS = [f"expert{i:02d}" for i in range(30)]


def test_rating_plan_gives_every_output_k_distinct_experts_and_even_loads():
    # given 45 prompts x 3 models and 30 experts, k = 3
    outputs = study_outputs()
    # when the plan is built
    plan = plan_build(outputs, EXPERTS, protocol="rating", k=3, seed=7)
    # then every output has exactly 3 distinct experts
    holders = defaultdict(list)
    for expert, _, item in plan.items():
        holders[item.left].append(expert)
    assert {o.id for o in outputs} == set(holders)
    assert all(len(h) == 3 and len(set(h)) == 3 for h in holders.values())
    # and loads differ by at most one (135 x 3 = 405 over 30 experts: 13 or 14)
    loads = Counter(expert for expert, _, _ in plan.items())
    assert sorted(set(loads.values())) == [13, 14]
    assert sum(loads.values()) == 405


def test_rating_plan_shows_each_expert_every_model_about_equally():
    outputs = study_outputs()
    model_of = {o.id: o.model for o in outputs}
    plan = plan_build(outputs, EXPERTS, protocol="rating", k=3, seed=11)
    for expert, queue in plan.queues.items():
        per_model = Counter(model_of[item.left] for item in queue)
        assert set(per_model) == {"A", "B", "C"}, expert
        assert max(per_model.values()) - min(per_model.values()) <= 1, (expert, per_model)


def test_a_plan_is_reproducible_from_its_seed_and_differs_for_another():
    outputs = study_outputs(n_prompts=10)
    first = plan_build(
        outputs,
        EXPERTS[:6],
        protocol="both",
        k=2,
        seed=3,
        attention_ids=[999],
        attention_rate=0.05,
        repeat_rate=0.1,
    )
    again = plan_build(
        outputs,
        EXPERTS[:6],
        protocol="both",
        k=2,
        seed=3,
        attention_ids=[999],
        attention_rate=0.05,
        repeat_rate=0.1,
    )
    other = plan_build(
        outputs,
        EXPERTS[:6],
        protocol="both",
        k=2,
        seed=4,
        attention_ids=[999],
        attention_rate=0.05,
        repeat_rate=0.1,
    )
    assert first.queues == again.queues
    assert first.queues != other.queues


def test_pairwise_plan_covers_every_cross_model_pair_k_times():
    outputs = study_outputs(n_prompts=20)
    plan = plan_build(outputs, EXPERTS[:10], protocol="pairwise", k=2, seed=5)
    judged = Counter(frozenset((item.left, item.right)) for _, _, item in plan.items())
    expected = {frozenset((a.id, b.id)) for a, b in model_pairs(outputs)}
    assert set(judged) == expected
    assert len(expected) == 20 * 3
    assert set(judged.values()) == {2}
    # never a pair of two outputs of the same model
    model_of = {o.id: o.model for o in outputs}
    assert all(model_of[i.left] != model_of[i.right] for _, _, i in plan.items())


def test_pairwise_plan_balances_model_pairs_and_sides_per_expert():
    outputs = study_outputs(n_prompts=45)
    model_of = {o.id: o.model for o in outputs}
    plan = plan_build(outputs, EXPERTS, protocol="pairwise", k=3, seed=9)
    for expert, queue in plan.queues.items():
        pair_counts = Counter(frozenset((model_of[i.left], model_of[i.right])) for i in queue)
        assert len(pair_counts) == 3
        assert max(pair_counts.values()) - min(pair_counts.values()) <= 1, (expert, pair_counts)
        left = Counter(model_of[i.left] for i in queue)
        right = Counter(model_of[i.right] for i in queue)
        for model in "ABC":
            assert abs(left[model] - right[model]) <= 1, (expert, model, left, right)


def test_left_right_position_is_not_predictable_from_the_output_over_many_plans():
    # given many plans of the same study with different seeds
    outputs = study_outputs(n_prompts=6)
    lower_id_left = 0
    total = 0
    for seed in range(200):
        plan = plan_build(outputs, EXPERTS[:4], protocol="pairwise", k=2, seed=seed)
        for _, _, item in plan.items():
            lower_id_left += item.left < item.right
            total += 1
    # then the output with the lower id (i.e. the order in which models were
    # registered) is on the left about half the time: a two-sided binomial test
    # does not reject 0.5 at the 1% level
    assert total == 200 * 18 * 2
    assert stats.binomtest(lower_id_left, total, 0.5).pvalue > 0.01


def test_item_order_is_shuffled_per_expert_over_many_plans():
    # the position of a model's first item in an expert's queue is uniform:
    # a chi-square test over positions does not reject uniformity
    outputs = study_outputs(n_prompts=4)
    model_of = {o.id: o.model for o in outputs}
    first_models = Counter()
    positions_of_a = Counter()
    for seed in range(300):
        plan = plan_build(outputs, EXPERTS[:3], protocol="rating", k=3, seed=seed)
        for queue in plan.queues.values():
            first_models[model_of[queue[0].left]] += 1
            for position, item in enumerate(queue):
                if model_of[item.left] == "A":
                    positions_of_a[position] += 1
    assert stats.chisquare(list(first_models.values())).pvalue > 0.01
    counts = [positions_of_a[p] for p in range(12)]
    assert stats.chisquare(counts).pvalue > 0.01


def test_quality_control_items_are_added_at_the_asked_rates():
    outputs = study_outputs(n_prompts=40)
    plan = plan_build(
        outputs,
        EXPERTS[:4],
        protocol="rating",
        k=1,
        seed=1,
        attention_ids=[10_001, 10_002],
        attention_rate=0.1,
        repeat_rate=0.1,
    )
    for queue in plan.queues.values():
        real = [i for i in queue if not i.qc]
        attention = [i for i in queue if i.qc == "attention"]
        repeats = [i for i in queue if i.qc == "repeat"]
        assert len(real) == 30
        assert len(attention) == 3 and {i.left for i in attention} <= {10_001, 10_002}
        assert len(repeats) == 3
        for repeat in repeats:
            # a repeat comes after its original, which is the same output
            original = queue[repeat.repeat_of]
            assert original.left == repeat.left and not original.qc
            assert queue.index(repeat) > repeat.repeat_of


def test_pair_repeats_swap_the_sides():
    outputs = study_outputs(n_prompts=30)
    plan = plan_build(outputs, EXPERTS[:3], protocol="pairwise", k=1, seed=2, repeat_rate=0.2)
    repeats = [(q, i) for q in plan.queues.values() for i in q if i.qc == "repeat"]
    assert repeats
    for queue, repeat in repeats:
        original = queue[repeat.repeat_of]
        assert (original.left, original.right) == (repeat.right, repeat.left)


@pytest.mark.parametrize(
    ("experts", "k", "message"),
    [([], 1, "no experts"), (["e1", "e2"], 3, "only 2 experts")],
)
def test_impossible_plans_are_refused_with_a_reason(experts, k, message):
    with pytest.raises(PlanError, match=message):
        plan_build(study_outputs(n_prompts=2), experts, protocol="rating", k=k, seed=0)


def test_pairwise_needs_two_models_per_prompt():
    outputs = study_outputs(n_prompts=3, models=("A",))
    with pytest.raises(PlanError, match="two models"):
        plan_build(outputs, EXPERTS[:3], protocol="pairwise", k=1, seed=0)


def test_unstarted_work_of_a_leaving_expert_goes_to_others_who_lack_it():
    outputs = study_outputs(n_prompts=10)
    experts = EXPERTS[:5]
    plan = plan_build(outputs, experts, protocol="rating", k=3, seed=1)
    leaving = experts[0]
    staying = experts[1:]
    holders = defaultdict(set)
    for expert, _, item in plan.items():
        holders[("rating", frozenset((item.left, None)))].add(expert)
    load = Counter({e: len(plan.queues[e]) for e in staying})
    for key in holders:
        holders[key].discard(leaving)
    moved = reassign(
        [(leaving, i) for i in plan.queues[leaving]],
        staying,
        current_load=load,
        holders=holders,
        seed=1,
    )
    assert len(moved) == len(plan.queues[leaving])
    for expert, _item in moved:
        assert expert in staying
    for key, experts_holding in holders.items():
        assert len(experts_holding) == 3, key
    final = Counter(load)
    final.update(e for e, _ in moved)
    assert max(final.values()) - min(final.values()) <= 1


def test_plans_are_stable_under_the_order_experts_are_listed():
    outputs = study_outputs(n_prompts=5)
    shuffled = list(EXPERTS[:6])
    random.Random(0).shuffle(shuffled)
    a = plan_build(outputs, EXPERTS[:6], protocol="rating", k=2, seed=8)
    b = plan_build(outputs, shuffled, protocol="rating", k=2, seed=8)
    assert a.queues == b.queues
