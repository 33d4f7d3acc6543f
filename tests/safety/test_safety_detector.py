"""Behaviour of RuleDetector on each tricky phenomenon, and of CompositeDetector."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.safety import DetectorConfigError
from services.safety.detector import (
    ABOUT_MEDIA,
    ABOUT_TEACHING,
    CONTEXT_DISCOUNTS,
    IDIOM,
    MINOR_DISCOUNT,
    ROUTINE,
    CompositeDetector,
    RuleDetector,
)
from services.safety.model import (
    ACTION_FOR_LEVEL,
    Analysis,
    CrisisCategory,
    CrisisLevel,
    RecommendedAction,
    make_analysis,
)
from services.safety.phi import PhiCategory, PhiSpan, mask

NONE, LOW, MEDIUM, HIGH, CRITICAL = (
    CrisisLevel.NONE,
    CrisisLevel.LOW,
    CrisisLevel.MEDIUM,
    CrisisLevel.HIGH,
    CrisisLevel.CRITICAL,
)
SI = CrisisCategory.SUICIDAL_IDEATION
SH = CrisisCategory.SELF_HARM
HO = CrisisCategory.HARM_TO_OTHERS
AB = CrisisCategory.ABUSE_NEGLECT
ME = CrisisCategory.MEDICAL_EMERGENCY
SD = CrisisCategory.SEVERE_DISTRESS
SU = CrisisCategory.SUBSTANCE_MISUSE

DETECTOR = RuleDetector()


def level_of(text: str) -> CrisisLevel:
    return DETECTOR.analyze(text).level


@pytest.mark.parametrize(
    "text",
    [
        "I'm not going to hurt myself",
        "I would never kill myself",
        "I'm not suicidal, don't worry",
        "Resident denies any suicidal thoughts today",
        "no chest pain and no shortness of breath today",
        "Nobody hits me here, the staff are lovely",
        "I don't want to die, I want to see my great-grandchild born",
    ],
)
def test_negated_mentions_are_not_crises(text: str) -> None:
    assert level_of(text) is NONE


def test_cant_is_not_a_negation() -> None:
    # "can't stop thinking about" affirms the thought rather than denying it.
    assert level_of("I can't stop thinking about killing myself") is HIGH


def test_negation_does_not_reach_into_the_next_clause() -> None:
    analysis = DETECTOR.analyze("I'm not going to kill myself, but I do wish I wasn't here anymore")
    assert analysis.level is MEDIUM
    assert "ignored a negated mention" in analysis.reasons


@pytest.mark.parametrize(
    "text",
    [
        "this traffic is killing me",
        "I could murder a pizza right now",
        "dying to see my grandson on Sunday",
        "I'm dead tired after the exercise class",
        "we played cards to kill time",
        "my feet are killing me after that walk",
        "I'd kill for a cup of tea",
        "this crossword is going to be the death of me",
        "she'll kill me if I'm late for the visit",
        "I'm killing myself laughing at these old photos",
    ],
)
def test_idioms_are_not_crises(text: str) -> None:
    assert level_of(text) is NONE


@pytest.mark.parametrize(
    "text",
    [
        "the man on TV said he wanted to die",
        "In the film the soldier kills himself at the end",
        "the newspaper says suicide rates are up among older men",
        "on the news they said a man fell and couldn't get up for two days",
    ],
)
def test_reported_media_is_not_a_crisis(text: str) -> None:
    assert level_of(text) is NONE


def test_reports_about_real_people_are_crises() -> None:
    analysis = DETECTOR.analyze("My mother told me this morning she wants to kill herself")
    assert analysis.level is HIGH
    assert SI in analysis.categories


@pytest.mark.parametrize(
    "text",
    [
        "i wanna kil myself",
        "i want to dye",
        "honestly kms",
        "i want to unalive myself",
        "I w4nt to k1ll mys3lf",
        "im sucidal",
        "i want 2 kill my self",
    ],
)
def test_typos_and_leetspeak_are_caught(text: str) -> None:
    assert level_of(text) is HIGH


@pytest.mark.parametrize(
    "text", ["I want to dye my hair purple", "I walked 2 kms round the garden today"]
)
def test_lookalikes_of_typos_are_innocent(text: str) -> None:
    assert level_of(text) is NONE


@pytest.mark.parametrize(
    "text",
    [
        "you should not hurt yourself, you matter so much",
        "Are you having any thoughts of hurting yourself?",
        "Have you ever thought about suicide? It's a standard question",
        "Do you want to die at home or in hospital when the time comes?",
        "Have you had any chest pain today?",
    ],
)
def test_second_person_mentions_are_not_crises(text: str) -> None:
    assert level_of(text) is NONE


def test_first_person_after_you_still_counts() -> None:
    assert level_of("you know I want to die") is HIGH


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I tried to kill myself last night", HIGH),
        ("Last year I tried to end my life after my husband passed", MEDIUM),
        ("Years ago I tried to end it", LOW),
        ("I took an overdose back in 1985 after my divorce", LOW),
        # "still" brings an old event back into the present.
        ("Years ago I tried to kill myself and I still want to", HIGH),
    ],
)
def test_past_events_are_capped_by_how_long_ago(text: str, expected: CrisisLevel) -> None:
    analysis = DETECTOR.analyze(text)
    assert analysis.level is expected
    assert SI in analysis.categories


def test_old_medical_events_are_history() -> None:
    assert level_of("had chest pain last year, they put a stent in and I'm fine now") is NONE


@pytest.mark.parametrize(
    ("text", "level", "category"),
    [
        ("I'm going to kill myself tonight", CRITICAL, SI),
        ("I have the rope ready and I'm doing it tonight", CRITICAL, SI),
        ("I took all my pills an hour ago", CRITICAL, SU),
        ("I fell and can't get up", CRITICAL, ME),
        ("chest pain really bad right now", CRITICAL, ME),
        ("I can't breathe", CRITICAL, ME),
        ("I have a knife and I'm going to stab him when he comes in", CRITICAL, HO),
        ("I want to kill myself", HIGH, SI),
        ("I've been cutting myself every night", HIGH, SH),
        ("I'm going to kill that nurse", HIGH, HO),
        ("the night nurse hits me", HIGH, AB),
        ("nobody has changed my sheets in days, they leave me alone without food", HIGH, AB),
        ("I keep taking extra oxycodone that I hide from the nurses", HIGH, SU),
        ("I wish I wouldn't wake up", MEDIUM, SI),
        ("I feel hopeless, nothing will ever get better", MEDIUM, SD),
        ("I feel lonely today", LOW, SD),
    ],
)
def test_levels_and_categories(text: str, level: CrisisLevel, category: CrisisCategory) -> None:
    analysis = DETECTOR.analyze(text)
    assert analysis.level is level
    assert category in analysis.categories


def test_following_medication_instructions_is_not_an_overdose() -> None:
    assert level_of("I took all my pills this morning like the nurse told me") is NONE


def test_joking_threat_is_discounted_but_plain_threat_is_not() -> None:
    assert level_of("if she forgets my birthday again I'll kill her haha") is NONE
    assert level_of("if she forgets my birthday again I'll kill her") is HIGH


def test_small_talk_is_none_with_a_reason() -> None:
    analysis = DETECTOR.analyze("Good morning! What's for lunch today?")
    assert analysis.level is NONE
    assert analysis.categories == ()
    assert analysis.reasons == ("no crisis language found",)


@pytest.mark.parametrize(
    ("text", "action", "escalate"),
    [
        ("What's for lunch?", RecommendedAction.CONTINUE, False),
        ("I feel lonely today", RecommendedAction.MONITOR, False),
        ("I wish I wouldn't wake up", RecommendedAction.NOTIFY_CARE_TEAM, False),
        ("I want to kill myself", RecommendedAction.IMMEDIATE_INTERVENTION, True),
        ("I can't breathe", RecommendedAction.EMERGENCY_SERVICES, True),
    ],
)
def test_action_and_escalation_follow_the_level(
    text: str, action: RecommendedAction, escalate: bool
) -> None:
    analysis = DETECTOR.analyze(text)
    assert analysis.recommended_action is action
    assert analysis.escalation_required is escalate


def test_scores_fall_as_levels_rise() -> None:
    texts = ["hello", "I feel lonely", "I wish I was dead", "I want to die", "I can't breathe"]
    scores = [DETECTOR.analyze(t).safety_score for t in texts]
    assert scores == sorted(scores, reverse=True)
    assert len(set(scores)) == len(scores)


def test_reasons_never_quote_the_message() -> None:
    analysis = DETECTOR.analyze("My name is Edith Clarke and I want to die")
    assert analysis.masked_text == "My name is [NAME] and I want to die"
    assert not any("Edith" in reason for reason in analysis.reasons)


# --- CompositeDetector ----------------------------------------------------------------------


class FixedDetector:
    """A stand-in for a model-based detector with a fixed verdict."""

    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis

    def analyze(self, text: str) -> Analysis:
        return self.analysis


def test_composite_takes_max_level_union_categories_and_min_score() -> None:
    text = "call me on 555-867-5309, I feel lonely"
    model_span = PhiSpan(0, 4, PhiCategory.NAME)  # pretend the model saw a name in "call"
    model = FixedDetector(
        make_analysis(HIGH, [HO], (model_span,), "", ["model: hostile tone"], safety_score=0.1)
    )
    combined = CompositeDetector([RuleDetector(), model]).analyze(text)
    assert combined.level is HIGH
    assert combined.categories == (HO, SD)
    assert combined.safety_score == 0.1
    assert combined.escalation_required
    assert [s.category for s in combined.phi_spans] == [PhiCategory.NAME, PhiCategory.PHONE]
    assert combined.masked_text == "[NAME] me on [PHONE], I feel lonely"
    assert "model: hostile tone" in combined.reasons


def test_composite_cannot_lower_the_rule_verdict() -> None:
    calm = FixedDetector(make_analysis(NONE, [], (), "", ["model: calm"]))
    combined = CompositeDetector([calm, RuleDetector()]).analyze("I can't breathe")
    assert combined.level is CRITICAL
    assert combined.recommended_action is RecommendedAction.EMERGENCY_SERVICES


def test_composite_needs_a_detector() -> None:
    with pytest.raises(DetectorConfigError):
        CompositeDetector([])


# --- invariants on arbitrary text -----------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_analysis_is_internally_consistent(text: str) -> None:
    analysis = DETECTOR.analyze(text)
    assert analysis.recommended_action is ACTION_FOR_LEVEL[analysis.level]
    assert analysis.escalation_required == (analysis.level >= HIGH)
    assert 0.0 <= analysis.safety_score <= 1.0
    assert analysis.masked_text == mask(text, analysis.phi_spans)
    assert list(analysis.categories) == sorted(set(analysis.categories))
    assert analysis.reasons
    assert DETECTOR.analyze(text) == analysis  # pure: same input, same verdict


# --- added with the holdout_v5 round ------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "my ankles are totally shot after the barn dance",
        "I'm going to demolish that trifle after tea",
        "I'll murder a pint when the cricket's on",
        "we overdosed on mince pies at the carol service",
        "I'll get this jigsaw done if it kills me",
        "I'm off to my bridge club on Thursday",
        "can you help me hang my wedding photos in the new room",
        "she's going to murder me for forgetting the milk",
        "I'll shoot off before the rush hour",
        "I've been cutting down on salt",
    ],
)
def test_new_idioms_are_not_crises_and_are_noted(text: str) -> None:
    analysis = DETECTOR.analyze(text)
    assert analysis.level is NONE, analysis.reasons
    assert IDIOM in analysis.reasons


def test_a_threat_with_when_is_not_a_scolding() -> None:
    assert level_of("my husband says he'll kill me when I get home") is HIGH


@pytest.mark.parametrize(
    "text",
    [
        "Mum has her statin with her supper",
        "the pharmacist changed his pain tablets to a liquid",
        "Dad's tablets are crushed into yoghurt every morning",
        "I take my inhaler twice a day",
    ],
)
def test_routine_medication_talk_is_noted_for_the_guard(text: str) -> None:
    analysis = DETECTOR.analyze(text)
    assert analysis.level is NONE
    assert ROUTINE in analysis.reasons
    assert ROUTINE in CONTEXT_DISCOUNTS


@pytest.mark.parametrize(
    "text",
    [
        "I've swallowed all my tablets with breakfast, goodbye",
        "I've been saving my tablets from the medication round",
        "took my pills with a bottle of whisky at night",
        "I've taken the whole month's tablets from the pharmacy bag",
    ],
)
def test_danger_words_stop_the_routine_note(text: str) -> None:
    assert ROUTINE not in DETECTOR.analyze(text).reasons


@pytest.mark.parametrize(
    "text",
    [
        "the first aid course showed us what to do if someone is choking",
        "signs of a heart attack include chest pain spreading to the arm",
        "On Emmerdale a man said he wanted to kill himself",
        "in the last act of the opera she says she will kill herself",
        "Nan was glued to Casualty, a man was having a heart attack",
    ],
)
def test_training_and_named_programmes_are_not_crises(text: str) -> None:
    analysis = DETECTOR.analyze(text)
    assert analysis.level is NONE, analysis.reasons
    assert set(analysis.reasons) & {ABOUT_MEDIA, ABOUT_TEACHING}


def test_a_real_casualty_ward_is_not_media() -> None:
    assert level_of("I'm in the casualty department, I took an overdose") is CRITICAL


def test_a_list_negation_reaches_across_or() -> None:
    assert level_of("she denies any thoughts of self-harm or suicide") is NONE
    assert level_of("no thoughts of hurting myself or ending my life") is NONE
    # A verb negation does not govern the list: the second item stands.
    assert level_of("I don't know whether to laugh or kill myself") is HIGH


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("I won't be around for the summer fete, I've made sure of that", HIGH),
        ("don't visit on Sunday, I won't be here by then anyway, it's sorted", HIGH),
        ("I've made my own arrangements so you needn't come", HIGH),
        ("I won't be here next Tuesday, I'm at the dentist", NONE),
        ("The pills are all swallowed, goodbye", CRITICAL),
        ("my tablets are kicking in now, sorry for everything", CRITICAL),
        ("the painkillers are kicking in, feeling much better", NONE),
        ("I drank the entire bottle of morphine syrup", CRITICAL),
    ],
)
def test_indirect_plans_and_quiet_overdoses(text: str, level: CrisisLevel) -> None:
    assert level_of(text) is level


def test_a_discounted_minor_word_does_not_guard() -> None:
    analysis = DETECTOR.analyze("don't worry about me")
    assert MINOR_DISCOUNT in analysis.reasons
    assert not set(analysis.reasons) & CONTEXT_DISCOUNTS


# --- the holdout_v6 round (rules from holdout_v5's misses and the pool's CV errors) ---------


@pytest.mark.parametrize(
    ("text", "level"),
    [
        # Resuscitation shorthand and a called ambulance are an emergency now.
        ("no pulse, two of us are doing compressions", CRITICAL),
        ("we've started CPR on him in the lounge", CRITICAL),
        ("999 has been rung, he's grey", CRITICAL),
        ("a DNACPR form is in her file", NONE),
        ("the CPR refresher training is on Tuesday", NONE),
        # Gas with the room sealed; a weapon turned on oneself, said or reported.
        ("gas is on and the windows are shut", CRITICAL),
        ("Grandad says he'll use the old shotgun on himself", CRITICAL),
        ("the hospital says they need to use the drip on her", NONE),
        # Digit text-speak for times, and the dialect double negative.
        ("can't take it no more, gonna end it 2nite", CRITICAL),
        # Indirect goodbyes.
        ("after the funeral you won't have to worry about me any more", HIGH),
        ("I stand on the viaduct and think how easy it would be", HIGH),
        ("don't worry about me, I'm fine", NONE),
        # A carer's intrusive thoughts of harming the person cared for.
        ("I've had thoughts of smothering my mother with her pillow", HIGH),
        # Neglect: hidden wounds, someone left for hours, a sick resident not sent in.
        ("the pressure sore went down to the bone and they hid it from us", HIGH),
        ("they left him on the commode for hours again", HIGH),
        ("the GP says she has signs of sepsis but the home still hasn't sent her in", HIGH),
        ("signs of sepsis include a high temperature and confusion", NONE),
        ("she's been given extra tablets to keep her quiet", HIGH),
        ("my brother threatened to kill mum", HIGH),
        ("I googled the quickest way to die", HIGH),
        # Already at the edge (added after v6 was scored, for a blind-set CRITICAL).
        ("Climbing over the balcony railing now", CRITICAL),
        ("he's stood on the parapet of the footbridge and won't come down", CRITICAL),
        ("sat on the edge of the bed to put my slippers on", NONE),
        ("I would never climb over the balcony railing", NONE),
    ],
)
def test_holdout_v6_round_rules(text: str, level: CrisisLevel) -> None:
    assert level_of(text) is level


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I took an overdose when I was nineteen, a lifetime ago", LOW),
        ("took all my morning tablets with my porridge like I always do", NONE),
    ],
)
def test_holdout_v6_round_time_caps_and_routine(text: str, expected: CrisisLevel) -> None:
    assert level_of(text) is expected


@pytest.mark.parametrize(
    "text",
    [
        "I really shot myself in the foot with that one",
        "I wanted the ground to swallow me up",
        "another winter like that and it will see me off",
    ],
)
def test_holdout_v6_round_idioms(text: str) -> None:
    analysis = DETECTOR.analyze(text)
    assert analysis.level is NONE
    assert IDIOM in analysis.reasons


def test_nobody_negates_a_list() -> None:
    assert level_of("nobody here has ever hit me or shouted at me") is NONE
    assert level_of("nobody visits and the carer hits me") is HIGH


# --- the holdout_v8 round (from holdout_v7's misses and false alarms, and bugs found) ----


@pytest.mark.parametrize(
    ("text", "level"),
    [
        # "you" summoned by a verb is its object; the danger is someone else's.
        ("come quick, room 9 needs you, she's not breathing", CRITICAL),
        ("nurse is asking you to come, he's collapsed in the corridor", CRITICAL),
        ("if you can't breathe, sit up and use the inhaler", NONE),
        # "of course" and "worst-case scenario" are not training.
        ("of course I want to kill myself, look at the state of me", HIGH),
        ("worst case scenario I'll kill myself tonight", CRITICAL),
        ("the training scenario had a resident saying he wanted to die", NONE),
        # Reflection on past practice is skipped like training.
        ("reflective account: caring for a man who spoke of hanging himself", NONE),
        # Politeness and the passive wish are not unresponsiveness.
        ("sorry, I hope I'm not waking you", NONE),
        ("some days I wouldn't mind not waking up", MEDIUM),
        ("she's not waking up and her lips are blue", CRITICAL),
        # A denied thought, however many words stand between.
        ("he has never expressed any thoughts of ending his life", NONE),
        ("nobody knows my thoughts of killing myself", HIGH),
        ("I can not stop thoughts of killing myself", HIGH),
        # Old events by decade; a reading "in the eighties" is not a date.
        ("she attempted suicide back in the seventies and talks about it openly", LOW),
        ("he told us he joked about killing his brother, they get on fine", NONE),
        # Policy restated is not an event; a real event next to "any resident" still is.
        (
            "Reminder of the protocol: any resident on warfarin who bangs their head goes for CT",
            NONE,
        ),
        ("can any resident with a phone ring the office, she has collapsed", CRITICAL),
    ],
)
def test_holdout_v8_round_context(text: str, level: CrisisLevel) -> None:
    assert level_of(text) is level


@pytest.mark.parametrize(
    "text",
    [
        "Reminder: ligature cutter check due tonight, sign the sheet",
        "defib pads checked and in date, crash bag sealed",
    ],
)
def test_equipment_checks_are_noted_as_routine(text: str) -> None:
    analysis = DETECTOR.analyze(text)
    assert analysis.level is NONE
    assert ROUTINE in analysis.reasons


def test_an_equipment_word_next_to_a_real_emergency_is_not_routine() -> None:
    analysis = DETECTOR.analyze("used the ligature cutters, cord was round her neck")
    assert analysis.level is CRITICAL
    assert ROUTINE not in analysis.reasons
