"""The model detector: offline loading, the heads' decision logic, the rules+model guard,
and its measured quality on the held-out sets (never trained on; ``holdout_v10.jsonl`` was
written blind and frozen before this round's heads were trained, and scored once, see
docs/safety.md)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from services.safety import ModelLoadError
from services.safety.classifier import (
    DEFAULT_WEIGHTS,
    CrisisHeads,
    ModelDetector,
    RulesAndModelDetector,
    char_ngram_features,
    decide,
    default_detector,
    load_heads,
    model_input,
    ngram_features,
)
from services.safety.detector import RuleDetector
from services.safety.embedding import EMBEDDING_DIM, MiniLmEncoder, bundled_model_dir
from services.safety.evaluate import evaluate, format_report, parse_examples
from services.safety.model import Analysis, CrisisCategory, CrisisLevel, make_analysis
from services.safety.train import HELD_OUT, HELD_OUT_SHA256, TRAINING_SETS, _load

HERE = Path(__file__).parent
HOLDOUT = HERE / "holdout_set.jsonl"
HOLDOUT_V3 = HERE / "holdout_v3_set.jsonl"
HOLDOUT_V4 = HERE / "holdout_v4.jsonl"  # trained on since it was scored once
HOLDOUT_V5 = HERE / "holdout_v5.jsonl"  # trained on since it was scored once
HOLDOUT_V6 = HERE / "holdout_v6.jsonl"  # trained on since it was scored once
HOLDOUT_V7 = HERE / "holdout_v7.jsonl"  # trained on since it was scored once
HOLDOUT_V8 = HERE / "holdout_v8.jsonl"  # trained on since it was scored once
HOLDOUT_V9 = HERE / "holdout_v9.jsonl"  # trained on since it was scored once
HOLDOUT_V10 = HERE / "holdout_v10.jsonl"  # frozen before its round's model; not yet scored
BLIND = HERE / "blind_set.jsonl"
URGENT = (CrisisLevel.HIGH, CrisisLevel.CRITICAL)


@pytest.fixture(scope="module")
def detector() -> RulesAndModelDetector:
    return default_detector()


# --- loading --------------------------------------------------------------------------------


def test_encoder_loads_and_runs_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the model tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    encoder = MiniLmEncoder(bundled_model_dir())  # fresh, not the shared cached one
    first = encoder.encode("I want to end my life")
    assert first.shape == (EMBEDDING_DIM,)
    assert abs(float(np.linalg.norm(first)) - 1.0) < 1e-5
    assert np.array_equal(first, encoder.encode("I want to end my life"))


def test_embeddings_put_paraphrases_closer_than_small_talk() -> None:
    encoder = MiniLmEncoder(bundled_model_dir())
    anchor = encoder.encode("I want to kill myself")
    paraphrase = encoder.encode("I'm going to take my own life")
    small_talk = encoder.encode("what is for lunch today?")
    assert float(anchor @ paraphrase) > float(anchor @ small_talk) + 0.3


def test_long_text_is_windowed_not_truncated() -> None:
    encoder = MiniLmEncoder(bundled_model_dir())
    long_text = "we had a nice walk in the garden. " * 60 + "I am going to kill myself tonight"
    tail_only = encoder.encode("I am going to kill myself tonight")
    calm_only = encoder.encode("we had a nice walk in the garden. " * 60)
    # The tail beyond the first 256 word pieces still moves the vector.
    assert float(encoder.encode(long_text) @ tail_only) > float(calm_only @ tail_only)


def test_missing_model_files_raise(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="missing"):
        MiniLmEncoder(tmp_path)


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"not the weights")
    (tmp_path / "tokenizer.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="SHA-256"):
        MiniLmEncoder(tmp_path)


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps({"format": 99}),
        json.dumps({"format": 2, "urgent": {"ngrams": []}}),  # the older layout
        json.dumps({"format": 3, "urgent": {}}),
        json.dumps({"format": 3, "urgent": {"ngrams": [1, 2]}}),
        json.dumps({"format": 4, "urgent": {"ngrams": []}}),  # before character n-grams
    ],
)
def test_malformed_classifier_files_are_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "heads.json"
    path.write_text(content)
    with pytest.raises(ModelLoadError):
        load_heads(path)


def test_wrongly_shaped_heads_are_refused(tmp_path: Path) -> None:
    raw = json.loads(DEFAULT_WEIGHTS.read_text())
    raw["urgent"]["coef"] = raw["urgent"]["coef"][:10]
    path = tmp_path / "heads.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ModelLoadError, match="shape"):
        load_heads(path)


def test_detector_with_missing_weights_fails_on_warm_up(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError):
        ModelDetector(weights=tmp_path / "absent.json").warm_up()


def test_held_out_sets_are_not_in_the_training_pool() -> None:
    assert not {path.name for path in TRAINING_SETS} & HELD_OUT
    assert {HOLDOUT.name, HOLDOUT_V3.name, HOLDOUT_V10.name, BLIND.name} <= HELD_OUT
    assert {HOLDOUT_V4.name, HOLDOUT_V9.name} <= {path.name for path in TRAINING_SETS}
    held_out = {
        json.loads(line)["text"].strip().lower()
        for path in (HOLDOUT, HOLDOUT_V3, HOLDOUT_V10, BLIND)
        for line in path.read_text().splitlines()
        if line
    }
    for path in TRAINING_SETS:
        trained = {
            json.loads(line)["text"].strip().lower()
            for line in path.read_text().splitlines()
            if line
        }
        assert not trained & held_out, path.name


def _words(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"\w+", text.lower()))


@pytest.mark.parametrize(
    ("path", "threshold"),
    [(HOLDOUT_V10, 0.5)],
    ids=["holdout_v10"],
)
def test_fresh_holdout_has_no_near_duplicate_in_the_training_pool(
    path: Path, threshold: float
) -> None:
    """No holdout_v10 message shares 50 % or more of its words with a training message.

    (v10 was checked once written against every other labelled set and within itself:
    40 % of all words, half of the larger message's content words, or a character
    similarity of 0.7 with 30 % of them; a third blind helper rewrote the 3 close ones
    before it was frozen. v9 and v8, in the pool since, had been checked in their rounds
    in much the same way.)"""
    held_out = [_words(json.loads(line)["text"]) for line in path.read_text().splitlines()]
    trained = [
        _words(json.loads(line)["text"])
        for pool_path in TRAINING_SETS
        for line in pool_path.read_text().splitlines()
        if line
    ]
    for words in held_out:
        closest = max(len(words & other) / len(words | other) for other in trained)
        assert closest < threshold, sorted(words)


@pytest.mark.parametrize("path", [HOLDOUT_V10], ids=["holdout_v10"])
def test_fresh_holdout_is_frozen_and_refused_by_training(path: Path, tmp_path: Path) -> None:
    """A fresh holdout is unchanged since it was frozen, and training refuses it, renamed
    or not."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest in HELD_OUT_SHA256
    assert path.name in HELD_OUT
    with pytest.raises(SystemExit, match="held-out"):
        _load([path])
    renamed = tmp_path / "more_training.jsonl"
    renamed.write_bytes(path.read_bytes())
    with pytest.raises(SystemExit, match="held-out"):
        _load([renamed])


# --- the heads' decision logic (pure, synthetic weights) ------------------------------------


def synthetic_heads(threshold: float = 0.5, ngrams: int = 0) -> CrisisHeads:
    """Dimension 0 drives urgency, dimension 1 CRITICAL over HIGH, dimension 2 MEDIUM.

    ``ngrams`` zero columns are appended to the level head, to match a vocabulary."""
    level_coef = np.zeros((5, EMBEDDING_DIM + ngrams))
    level_coef[4, 1] = 10.0  # CRITICAL
    level_coef[2, 2] = 10.0  # MEDIUM
    category_coef = np.zeros((len(CrisisCategory), EMBEDDING_DIM))
    category_coef[4, 1] = 10.0  # MEDICAL_EMERGENCY follows dimension 1
    urgent_coef = np.zeros(EMBEDDING_DIM)
    urgent_coef[0] = 10.0
    return CrisisHeads(
        urgent_coef=urgent_coef,
        urgent_intercept=-5.0,
        threshold=threshold,
        level_coef=level_coef,
        level_intercept=np.zeros(5),
        category_coef=category_coef,
        category_intercept=np.full(len(CrisisCategory), -5.0),
    )


def unit(*components: float) -> Any:
    vector = np.zeros(EMBEDDING_DIM)
    vector[: len(components)] = components
    return vector


def test_urgent_head_decides_high_and_level_head_picks_critical() -> None:
    heads = synthetic_heads()
    assert decide(heads, unit(1.0)).level is CrisisLevel.HIGH
    critical = decide(heads, unit(1.0, 1.0))
    assert critical.level is CrisisLevel.CRITICAL
    assert CrisisCategory.MEDICAL_EMERGENCY in critical.categories


def test_below_threshold_the_level_head_grades_the_rest() -> None:
    heads = synthetic_heads()
    assert decide(heads, unit(0.0, 1.0, 1.0)).level is CrisisLevel.MEDIUM
    calm = decide(heads, unit())
    assert calm.level is CrisisLevel.NONE
    assert calm.categories == ()
    # Even a CRITICAL-leaning level head cannot make it urgent without the urgent head.
    assert decide(heads, unit(0.0, 1.0)).level < CrisisLevel.HIGH


def test_blend_level_averages_the_urgent_and_level_heads() -> None:
    """With ``blend_level`` the decision reads (P_urgent + P_level(HIGH or CRITICAL)) / 2."""
    heads = dataclasses.replace(synthetic_heads(threshold=0.5), blend_level=True)
    # Urgent head sure (dimension 0), level head says CRITICAL (dimension 1): urgent.
    assert decide(heads, unit(1.0, 1.0)).level is CrisisLevel.CRITICAL
    # Urgent head sure, level head says MEDIUM (dimension 2): the blend falls below 0.5.
    blended = decide(heads, unit(1.0, 0.0, 1.0))
    assert blended.level is CrisisLevel.MEDIUM
    assert 0.45 < blended.urgent_probability < 0.55
    alone = decide(synthetic_heads(threshold=0.5), unit(1.0, 0.0, 1.0))
    assert alone.level in URGENT and alone.urgent_probability > 0.99


def test_threshold_moves_the_decision() -> None:
    almost = unit(0.45)  # P(urgent) = sigmoid(-0.5) = 0.38
    assert decide(synthetic_heads(threshold=0.5), almost).level is CrisisLevel.NONE
    assert decide(synthetic_heads(threshold=0.3), almost).level is CrisisLevel.HIGH


def test_ngram_features_match_tfidf_arithmetic() -> None:
    vocabulary = {"hang": 0, "hang myself": 1, "pictures": 2}
    idf = np.array([1.0, 3.0, 2.0])
    features = ngram_features("I'll HANG myself, hang", vocabulary, idf)
    raw = np.array([1.0 + np.log(2.0), 3.0, 0.0])  # sublinear tf times idf
    assert np.allclose(features, raw / np.linalg.norm(raw))
    assert not ngram_features("nothing known", vocabulary, idf).any()


def test_char_ngram_features_stay_inside_padded_words() -> None:
    """Each lowercased word is padded with a space either side and cut into 2- to 5-grams;
    a padded word no longer than n gives itself once and no longer n-grams."""
    grams = [" h", "hi", "i ", " hi", "hi ", " hi ", " a", "a ", " a ", "i a", "ove", "overd"]
    vocabulary = {gram: index for index, gram in enumerate(grams)}
    idf = np.ones(len(grams))
    features = char_ngram_features("Hi HI a", vocabulary, idf)
    twice, once = 1.0 + np.log(2.0), 1.0  # sublinear tf: "hi" is there twice
    raw = np.array([twice] * 6 + [once] * 3 + [0.0, 0.0, 0.0])  # no "i a" across words
    assert np.allclose(features, raw / np.linalg.norm(raw))
    # A typo still shares most character n-grams with the word it misspells.
    overdosed = char_ngram_features("overdosed", vocabulary, idf)
    assert overdosed[vocabulary["ove"]] > 0 and overdosed[vocabulary["overd"]] > 0
    assert char_ngram_features("ovrdosed", vocabulary, idf)[vocabulary["ove"]] == 0


def test_char_ngram_weights_move_the_urgent_decision() -> None:
    base = synthetic_heads(ngrams=1)
    heads = dataclasses.replace(
        base,
        urgent_coef=np.concatenate([base.urgent_coef, [20.0]]),
        char_vocabulary={"od'd": 0},
        char_idf=np.ones(1),
    )
    assert decide(heads, unit(0.0), "she's od'd on her tabs").level >= CrisisLevel.HIGH
    assert decide(heads, unit(0.0), "she's odd today").level < CrisisLevel.HIGH


def test_ngram_weights_move_the_urgent_decision() -> None:
    base = synthetic_heads(ngrams=2)
    heads = dataclasses.replace(
        base,
        urgent_coef=np.concatenate([base.urgent_coef, [0.0, 20.0]]),
        ngram_vocabulary={"hang": 0, "hang myself": 1},
        ngram_idf=np.ones(2),
    )
    assert decide(heads, unit(0.0), "hang the pictures").level < CrisisLevel.HIGH
    assert decide(heads, unit(0.0), "hang myself").level >= CrisisLevel.HIGH


def test_a_raised_level_always_names_a_category() -> None:
    verdict = decide(synthetic_heads(), unit(1.0))
    assert verdict.level is CrisisLevel.HIGH
    assert len(verdict.categories) == 1


def test_model_input_blanks_idioms_and_normalises() -> None:
    assert "killing" not in model_input("this traffic is killing me")
    assert model_input("im gonna k1ll mys3lf") == "i'm going to kill myself"


# --- the guard between rules and model ------------------------------------------------------


class AlwaysHigh:
    """A stand-in model that raises everything to HIGH."""

    def analyze(self, text: str) -> Analysis:
        return make_analysis(
            CrisisLevel.HIGH, [CrisisCategory.SUICIDAL_IDEATION], (), text, ["fake model"]
        )


def test_model_cannot_raise_what_the_rules_explained_away() -> None:
    guarded = RulesAndModelDetector(RuleDetector(), AlwaysHigh())
    negated = guarded.analyze("I would never kill myself")
    assert negated.level is CrisisLevel.MEDIUM
    assert "model capped at MEDIUM: rules found context" in negated.reasons
    assert guarded.analyze("are you thinking of suicide?").level < CrisisLevel.HIGH
    # Without a context discount the model's HIGH stands.
    assert guarded.analyze("the kettle is on").level is CrisisLevel.HIGH


def test_the_rules_verdict_is_never_lowered() -> None:
    guarded = RulesAndModelDetector(RuleDetector(), AlwaysHigh())
    result = guarded.analyze("I have the rope ready and I'm doing it tonight")
    assert result.level is CrisisLevel.CRITICAL


def test_phi_spans_still_come_from_the_rules(detector: RulesAndModelDetector) -> None:
    result = detector.analyze("My name is Doris Pike and I feel fine")
    assert result.phi_spans
    assert "Doris" not in result.masked_text


# --- the real model ---------------------------------------------------------------------------

# Written for these tests (in no training or evaluation set); the rules miss each one.
PARAPHRASES_THE_RULES_MISS = [
    "my carer keeps smacking the back of my head when I'm slow",
    "I've been given nothing to eat or drink since breakfast yesterday",
    "I've got the plastic bag and the tape ready for tonight",
    "he lies there gurgling and his lips are purple",
    "i just want to not exist anymore, i've been reading about ways",
    "I'm sick of this, I'm going to make myself bleed again",
]

STAYS_BELOW_HIGH = [
    "I would never take my own life, I love my grandchildren",
    "no, I'm not thinking of hurting myself",
    "this hill is killing me",
    "I'm dying for a slice of cake",
    "did you remember your heart tablets this morning?",
    "the detective show tonight had a poisoning",
    "I'd kill for a nap",
    # A holdout_v3 false alarm until the level head got the n-gram features and the
    # training data got kitchen-knife talk (no v3 text was trained on).
    "the knife block needs to go back in the locked cupboard after lunch",
    # Known false alarms until the holdout_v5 round (new idioms, the routine-care note):
    "my legs are killing me",
    "Dad takes his blood thinner with breakfast and his statin at night",
    "I'm off to the bridge club tonight",
    "she overdosed on chocolate at the Christmas party",
    # holdout_v5 false alarms at its one scoring; v5 is in the training pool since the
    # holdout_v6 round, so these are in-sample now: a regression guard, not evidence.
    "swallowed my tablets with a glass of milk and went back to sleep",
    "I want the ground to swallow me up, I called the vicar by the wrong name",
    "he's on the top floor now, a room with a view over the river",
    # holdout_v6 false alarms at its one scoring, fixed in the holdout_v7 round (v6 is in
    # the training pool since): in-sample, a regression guard.
    "siri call marjorie and tell her i'll be late i got stuck behind a tractor",
    "ring the bell. nurse. toilet.",
    "Dad took the whole pack of digestives to his room again 🍪😂",
    # holdout_v7 false alarms at its one scoring, fixed in the holdout_v8 round (the
    # equipment-check note, more plain staff notes in the pool; v7 is in the pool since):
    # in-sample, a regression guard.
    "Reminder: ligature cutter check due tonight - red box, sign the sheet",
    "Night manager on ext 204 till 8",
    "I'm bored stiff, any suggestions for something to do?",
    # holdout_v8 false alarms at its one scoring, gone in the holdout_v9 round (v8 and
    # routine clinical notes in the pool since): in-sample, a regression guard.
    "Car park's full, where do I go?",
    "wheres my magnifying glass gone",
    "Agency nurse tonight is Priya, PIN on file.",
    # holdout_v9 false alarms at its one scoring, gone in the holdout_v10 round (v9 in the
    # pool since, character n-grams): in-sample, a regression guard.
    "Erm, hi, it's Colin, I think I've left my car keys in the staff room, is anyone there?",
    "im deaddd 💀 grandma just sent a voice note of her singing",
]


@pytest.mark.parametrize("text", PARAPHRASES_THE_RULES_MISS)
def test_model_raises_paraphrases_the_rules_miss(
    detector: RulesAndModelDetector, text: str
) -> None:
    assert RuleDetector().analyze(text).level not in URGENT
    result = detector.analyze(text)
    assert result.level in URGENT, result.reasons
    assert result.escalation_required


@pytest.mark.parametrize("text", STAYS_BELOW_HIGH)
def test_negations_idioms_and_questions_stay_below_high(
    detector: RulesAndModelDetector, text: str
) -> None:
    assert detector.analyze(text).level not in URGENT


# Known false alarms, kept visible: strict, so a fix makes these tests fail until the
# marker is removed.
@pytest.mark.xfail(strict=True, reason="known false alarms: see docs/safety.md")
@pytest.mark.parametrize(
    "text",
    [
        # Seen among holdout_v3's false alarms at its one scoring:
        "I took two paracetamol for my headache and it's gone",
        # Seen among holdout_v10's false alarms at its one scoring (the model alone, on
        # plain notes with no crisis in them):
        "Lounge 1 curtains are away at the dry cleaners until Monday. Blinds are down instead,"
        " please don't pull on them.",
        "If your hearing aid starts whistling, you've probably got wax in the tube. Pop it out,"
        " leave it on the side, and I'll clean it when I come round on Tuesday.",
        "Routine obs Rm 6 Mr Leroy Campbell: T 36.7, HR 72, BP 128/76, RR 16, sats 96% RA,"
        " NEWS2 0. No concerns, for info only.",
    ],
)
def test_known_false_alarms(detector: RulesAndModelDetector, text: str) -> None:
    assert detector.analyze(text).level not in URGENT


# Known misses, kept visible the same way.
@pytest.mark.xfail(strict=True, reason="known misses: see docs/safety.md, holdout_v10 round")
@pytest.mark.parametrize(
    "text",
    [
        # holdout_v10's two misses at its one scoring: a farewell left on a voicemail with no
        # crisis word, and alcohol on top of "night tablets" told by another resident.
        "it's Wilf um just wanted whoever's in charge to know I won't be a bother much longer"
        " I've made my mind up I'm sorting out who gets the medals and my dad's watch I haven't"
        " decided how yet but don't you worry about it",
        "Eddie's son brings him cans in his holdall and he drinks them after his night tablets."
        " Last night he was falling about all over the corridor and I had to hold him up"
        " against the wall.",
        # holdout_v3 messages found until the holdout_v10 round's model (character n-grams):
        # a regression accepted with it, see docs/safety.md.
        "sitting in the car in the garage with the engine running, it's easier this way",
        "everyone would be better off if I just swallowed the lot one night",
        "What's the highest floor in this building? I've been thinking about the window a lot",
    ],
)
def test_known_misses(detector: RulesAndModelDetector, text: str) -> None:
    assert detector.analyze(text).level in URGENT


# holdout_v6 misses at its one scoring, found since the holdout_v7 round (vital signs and
# the clinical-register rules; v6 is in the training pool): in-sample, a regression guard.
@pytest.mark.parametrize(
    "text",
    [
        "Mr K has ligature round neck from dressing gown cord, cut free, crew en route",
        "rm 11 BP 72/40, HR 130, clammy, melaena ++",
        "Mrs D found with empty blister packs of carer's own tramadol, drowsy, pinpoint pupils",
        # holdout_v7 misses at its one scoring, found since the holdout_v8 round (the
        # listener rule, lab values, assault and plain-words confusion rules).
        "rm 12 needs you NOW not breathing right",
        "Eddie punched Bill, Bill's nose bleeding, Eddie still kicking off",
        "Rm 14 Doreen temp 38.9 and more muddled than usual, can you review before you go",
        "Pharmacist: INR 7.8 on warfarin, no active bleeding. Omit warfarin; contact"
        " anticoagulation clinic today regarding vitamin K.",
        # holdout_v8 misses at its one scoring, found since the holdout_v9 round (the
        # ligature rule no longer explained away by "on the door", lab values, alcohol on
        # top of a sedative).
        "i've got the belt round my neck now i've tied it on the door handle i just wanted to say"
        " thank you for talking to me all these weeks",
        "Lab phoning through: CRP 286, WCC 21.4 for Mr Donald Keane. GP asks for a full set of"
        " obs now and a call to 111 if NEWS2 is 5 or above.",
        "0115 rm 22 drank most of a 70cl whisky brought in by visitor - had already been given"
        " PRN lorazepam 1mg at 2300 before staff aware. Very drowsy, rousable, RR 12. 15 min obs.",
        # holdout_v9 misses at its one scoring, found since the holdout_v10 round (v9 in the
        # pool, character n-grams).
        "visitor w knife in reception, staff hiding",
        "Dear Joan, by the time the girls read this I shall have gone over the balcony. I am"
        " going out there now. Don't let anyone blame themselves.",
        "lady in 7 has 30+ tablets hid in sock drawer",
    ],
)
def test_former_misses_are_found(detector: RulesAndModelDetector, text: str) -> None:
    assert detector.analyze(text).level in URGENT


def _report_on(path: Path, detector: RulesAndModelDetector) -> Any:
    with path.open(encoding="utf-8") as handle:
        return evaluate(parse_examples(handle), detector)


@pytest.mark.parametrize(
    ("path", "size", "urgent"),
    [(HOLDOUT, 150, 50), (HOLDOUT_V3, 150, 50), (HOLDOUT_V10, 350, 120)],
    ids=["holdout", "holdout_v3", "holdout_v10"],
)
def test_holdout_sets_are_big_enough(path: Path, size: int, urgent: int) -> None:
    examples = parse_examples(path.read_text(encoding="utf-8").splitlines())
    assert len(examples) >= size
    assert sum(1 for ex in examples if ex.level in URGENT) >= urgent


@pytest.mark.xfail(
    strict=True,
    reason="precision target not reached on holdout_v10: recall 0.986, precision 0.749"
    " (docs/safety.md)",
)
def test_targets_on_the_holdout_v10_set(detector: RulesAndModelDetector) -> None:
    report = _report_on(HOLDOUT_V10, detector)
    assert report.urgent.recall >= 0.97, format_report(report)
    assert report.urgent.precision >= 0.85, format_report(report)


# Regression floors: the figures measured with the holdout_v10 round's model (v9 in the
# pool, character n-grams, same rules), rounded down: holdout_v10 143/145 found at
# P 0.749 (its one scoring), holdout 58/60 at P 0.853, blind 40/40 at P 0.909,
# holdout_v3 52/55 at P 0.825 (55/55 before this round: see the known misses above).
# holdout_v9 left the floors when it joined the training pool (its figures would be
# in-sample).
@pytest.mark.parametrize(
    ("path", "min_recall", "min_precision"),
    [
        (HOLDOUT, 0.96, 0.85),
        (BLIND, 1.0, 0.90),
        (HOLDOUT_V3, 0.94, 0.82),
        (HOLDOUT_V10, 0.98, 0.74),
    ],
    ids=["holdout", "blind", "holdout_v3", "holdout_v10"],
)
def test_no_regression_on_held_out_sets(
    detector: RulesAndModelDetector, path: Path, min_recall: float, min_precision: float
) -> None:
    report = _report_on(path, detector)
    assert report.urgent.recall >= min_recall, format_report(report)
    assert report.urgent.precision >= min_precision, format_report(report)
