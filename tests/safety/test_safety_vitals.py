"""Vital signs as crisis evidence (services.safety.vitals) and the clinical-register rules.

Messages here are written for these tests (none is copied from a labelled set)."""

from __future__ import annotations

import re

import pytest

from services.safety.detector import RuleDetector
from services.safety.model import CrisisCategory, CrisisLevel
from services.safety.vitals import Parameter, Reading, assess, read_observations

NONE, MEDIUM, HIGH, CRITICAL = (
    CrisisLevel.NONE,
    CrisisLevel.MEDIUM,
    CrisisLevel.HIGH,
    CrisisLevel.CRITICAL,
)
ME = CrisisCategory.MEDICAL_EMERGENCY
RULES = RuleDetector()


def _level(text: str) -> CrisisLevel:
    finding = assess(text)
    return NONE if finding is None else finding.level


# -- reading ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BP 96/58", [Reading(Parameter.SYSTOLIC, 96)]),
        ("systolic of only 82", [Reading(Parameter.SYSTOLIC, 82)]),
        ("BP 124/70 -> 88/52", [Reading(Parameter.SYSTOLIC, 88, 124)]),
        ("sats 90% RA", [Reading(Parameter.SPO2, 90)]),
        ("SpO2 were down to 86", [Reading(Parameter.SPO2, 86)]),
        ("GCS dropped from 14 to 10", [Reading(Parameter.GCS, 10, 14)]),
        ("NEWS2 4 then 7", [Reading(Parameter.NEWS, 7, 4)]),
        ("temp 102.2F", [Reading(Parameter.TEMPERATURE, 39.0)]),
        ("blood sugar 50", [Reading(Parameter.GLUCOSE, 2.8)]),  # mg/dL
        ("CBG HI", [Reading(Parameter.GLUCOSE, 33.3)]),
        ("pulse 44 bpm", [Reading(Parameter.PULSE, 44)]),
        ("breathing 30 breaths per minute", [Reading(Parameter.RESPIRATION, 30)]),
        ("ACVPU: V", [Reading(Parameter.CONSCIOUSNESS, 1)]),
    ],
)
def test_observations_are_read_in_their_usual_spellings(text: str, expected: list[Reading]) -> None:
    assert read_observations(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "escalate if NEWS2 of 5 or more",
        "call the GP if sats below 92",
        "target sats 88-92% for her COPD",
        "keep BP above 100 systolic",
        "last BM 3 days ago, bowels to be monitored",  # a bowel movement
        "two sugars in his tea",
        "T2DM, diet controlled",
        "no new confusion, alert and orientated",
    ],
)
def test_thresholds_targets_and_lookalikes_are_not_readings(text: str) -> None:
    assert read_observations(text) == []
    assert _level(text) is NONE


# -- grading ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "level"),
    [
        # NEWS2 aggregate: reported, or added up from what the sentence gives.
        ("NEWS2 7, obs repeated", CRITICAL),
        ("NEWS 5", HIGH),
        ("NEWS2 3 (temp 38.3), fluids encouraged", NONE),
        ("RR 23, HR 115, temp 38.6", HIGH),  # 2 + 2 + 1
        ("RR 24, sats 93% on 2L O2, HR 112", CRITICAL),  # 2 + 2 + 2 (oxygen) + 2
        # One parameter in NEWS2's red band.
        ("RR 26", HIGH),
        ("sats 91% on air", HIGH),
        ("systolic 90", HIGH),
        ("HR 135", HIGH),
        ("temp 34.8", HIGH),
        ("new confusion since lunch", HIGH),
        # Alone an emergency.
        ("BP 76/40", CRITICAL),
        ("sats 82% on air", CRITICAL),
        ("RR 38", CRITICAL),
        ("GCS 8", CRITICAL),
        ("GCS 15 -> 12", CRITICAL),
        ("BM 2.4", CRITICAL),
        ("lactate 4.6", CRITICAL),
        ("CBG 24.1, ketones 3.6", CRITICAL),
        # Red flags NEWS2 does not score.
        ("BM 3.4", HIGH),
        ("ketones 3.2", HIGH),
        ("lactate 2.7", HIGH),
        ("GCS 11", HIGH),
        # Normal, borderline or over.
        ("BP 138/82, HR 76, RR 16, sats 97% RA, T 36.8", NONE),
        ("sats 94%", NONE),
        ("BM 6.1 pre-lunch", NONE),
        ("BM 3.6 at 1100, toast given, recheck 5.9", NONE),
        ("RR 29 briefly during the hoist, settled within minutes", NONE),
    ],
)
def test_observations_are_graded_with_news2_and_red_flags(text: str, level: CrisisLevel) -> None:
    assert _level(text) is level


def test_copd_saturations_are_scored_on_scale_2() -> None:
    assert _level("sats 88% on air") is HIGH
    assert _level("COPD, sats 88% on air, her usual") is NONE
    assert _level("COPD, sats 78% on air") is CRITICAL


def test_reasons_name_bands_but_never_the_numbers() -> None:
    finding = assess("rm 4 BP 74/40, HR 139, RR 31, sats 83%")
    assert finding is not None and finding.level is CRITICAL
    assert not re.search(r"\d", finding.reason), finding.reason


# -- in the detector -------------------------------------------------------------------------


def test_the_detector_reports_observations_as_a_medical_emergency() -> None:
    analysis = RULES.analyze("Rm 3 NEWS2 8 at 0300, paged the on-call")
    assert analysis.level is CRITICAL
    assert ME in analysis.categories
    assert any("early-warning" in reason for reason in analysis.reasons)


def test_observations_in_the_past_are_history() -> None:
    assert RULES.analyze("In 2019 her BP was 70/40 during the sepsis").level is NONE


def test_observations_in_training_material_are_not_a_patient() -> None:
    text = "Simulation exercise: the patient has BP 78/40 and RR 34; what do you do first?"
    assert RULES.analyze(text).level is NONE


def test_observations_are_read_on_the_original_text() -> None:
    # The normaliser undoes leetspeak in mixed tokens ("35.1C" would become "35.iC").
    assert RULES.analyze("temp 34.9C, shivering").level is HIGH


# -- clinical register rules (holdout_v7 round) ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("found with a flex tied round his neck in the wardrobe", CRITICAL),
        ("staff found her attempting to ligate with a pillowcase strip", CRITICAL),
        ("ligature point audit completed, two taps replaced", NONE),
        ("she has ingested around thirty sertraline", CRITICAL),
        ("the toddler drank some of the toilet cleaner", CRITICAL),
        ("crew en route, ETA 8 mins", CRITICAL),
        ("ambulance booked for Tuesday's outpatient appointment", NONE),
        ("coffee-ground vomit x2 this afternoon", HIGH),
        ("?sepsis, GP visiting", HIGH),
        ("temp 38.6, query ? sepsis, GP visiting", HIGH),  # a "?" after a space is a query
        ("septic tank emptied today", NONE),
        ("expressing SI with a plan to use her insulin", HIGH),
        ("no SI, no thoughts of harm to others", NONE),
        ("reports voices instructing him to attack his brother", HIGH),
        ("denies homicidal ideation", NONE),
        ("multiple self-inflicted scratches to the forearm", HIGH),
        ("fingertip bruising to both wrists, no explanation", HIGH),
        ("resident not repositioned since 2300 as night staff short", HIGH),
        ("declined oral fluids for 4 days, urine dark", HIGH),
        ("took the whole pack of custard creams to bed", NONE),
    ],
)
def test_clinical_register(text: str, level: CrisisLevel) -> None:
    assert RULES.analyze(text).level is level


# -- holdout_v8 round: values NEWS2 does not score, and urgent findings without crisis words -


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("INR 7.2 today", [Reading(Parameter.INR, 7.2)]),
        ("K+ 6.1, Na 131", [Reading(Parameter.POTASSIUM, 6.1), Reading(Parameter.SODIUM, 131)]),
        ("serum potassium of 2.4", [Reading(Parameter.POTASSIUM, 2.4)]),
        ("vitamin K 2 mg given", []),  # a dose, not a potassium
        ("5K fun run on Sunday", []),
        ("k 6 is fine for me, see you then", []),  # text-speak "ok", not potassium
    ],
)
def test_reads_lab_values(text: str, expected: list[Reading]) -> None:
    assert read_observations(text) == expected


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("INR 6.8, warfarin held", HIGH),
        ("INR 5.2, small nosebleed this morning", HIGH),
        ("INR 5.2, no bleeding, dose reduced", NONE),
        ("INR 2.6, in range", NONE),
        ("keep INR between 2 and 3", NONE),
        ("potassium 6.3 on today's bloods", HIGH),
        ("K 4.6", NONE),
        ("Na 117, more drowsy", HIGH),
        ("sodium 139", NONE),
        ("BP 204/112, thumping headache and blurred vision", HIGH),
        ("BP 186/98, no headache or visual change, recheck in an hour", NONE),
        ("BP 188/96, asymptomatic", NONE),
        ("HR 44 on bisoprolol, dizzy and nearly fainted at lunch", HIGH),
        ("HR 48 on bisoprolol, well in herself", NONE),
        ("temp 37.9 and more confused than usual since breakfast", HIGH),
        ("a bit confused as usual in the evenings", NONE),
    ],
)
def test_grades_lab_values_and_symptomatic_readings(text: str, level: CrisisLevel) -> None:
    assert _level(text) is level


@pytest.mark.parametrize(
    ("text", "level"),
    [
        # A head strike is urgent on an anticoagulant (NICE: CT head), even with normal obs.
        ("slipped in the lounge and banged her head on the radiator, on rivaroxaban", HIGH),
        ("on apixaban; fell onto bottom, no head strike", NONE),
        ("banged his head on the cupboard door, not on any blood thinners", NONE),
        ("bumped head on the shelf, tiny red mark, no medication of note", NONE),
        # No urine, a hot swollen calf, intoxicated on sedatives, neglect found on arrival.
        ("no urine output for 16 hours despite fluids", HIGH),
        ("catheter draining well, urine clear", NONE),
        ("fluid retention in both ankles, legs elevated", NONE),
        ("right calf red, swollen and tender since the weekend", HIGH),
        ("query DVT, doppler booked for this afternoon", HIGH),
        ("came back from the pub clearly drunk and had his zopiclone at ten", HIGH),
        ("had one sherry at the party, takes no regular medication", NONE),
        ("arrived from hospital with an undocumented grade 4 sacral ulcer", HIGH),
        ("grade 2 sore on left heel, healing, dressing changed", NONE),
        ("his son would not let the district nurse in for a fortnight", HIGH),
        ("barely drunk anything for three days and very sleepy", HIGH),
        # One person hitting another, reported.
        ("Harold slapped Edith across the face at teatime", HIGH),
        ("Joan kicked another resident under the table twice", HIGH),
        ("Frank kicked off about the menu again", NONE),
        ("Dad punched the air when his team scored", NONE),
    ],
)
def test_holdout_v8_round_clinical_rules(text: str, level: CrisisLevel) -> None:
    assert RULES.analyze(text).level is level


def test_observations_in_a_training_sentence_guard_the_model() -> None:
    analysis = RULES.analyze("Simulation drill: mannequin has NEWS2 of 9 and sats 82%")
    assert analysis.level is NONE
    assert "ignored a sentence about training or general information" in analysis.reasons


# --- the holdout_v9 round (from holdout_v8's misses and false alarms) ----------------------


@pytest.mark.parametrize(
    ("text", "level"),
    [
        # Laboratory markers of sepsis or marrow failure.
        ("bloods back: CRP 240, renal function stable", HIGH),
        ("white cell count 23.8 on today's bloods", HIGH),
        ("WCC 0.6, neutropenic on chemo", HIGH),
        ("CRP 18 and WCC 9.1, no action", NONE),
        ("repeat CRP in two weeks", NONE),
        # A low saturation repeated without its label: the recheck is the latest reading.
        ("sats 86% with cold hands, re-checked on the ear 95%", NONE),
        ("SpO2 87% on air, repeated 86%", HIGH),
        ("sats 95%, repeated obs later, managed 60% of her supper", NONE),
        # Alcohol in any words on top of a sedative, in the same sentence.
        ("finished two cans of cider after his evening diazepam", HIGH),
        ("had a few gins at the party and then her zopiclone", HIGH),
        ("had a glass of water with her lorazepam", NONE),
        ("couple of cans of coke with his tramadol", NONE),
        ("drank two pints of water today, morphine given at 2200", NONE),
        ("had three pints at the pub and then his evening tramadol", HIGH),
        ("had a few gins at the party, takes no regular medication", NONE),
        # Inflicted injuries as a clinician reads them.
        ("marks on his forearm look like cigarette burns to me", HIGH),
        ("cigarette burns to both hands, she won't say how", HIGH),
        ("the bruising does not fit the explanation we were given", HIGH),
        ("cigarette burns on the lounge carpet again, smoking policy reminder", NONE),
        # A ligature is never an accident, whatever door it is tied to.
        ("dressing gown cord round my neck and tied to the door hinge", CRITICAL),
        ("caught my finger on the door, bit of a cut", NONE),
    ],
)
def test_holdout_v9_round_rules(text: str, level: CrisisLevel) -> None:
    assert RULES.analyze(text).level is level


@pytest.mark.parametrize(
    ("text", "note"),
    [
        ("talking in his sleep again, shouted 'I'll kill you' and then snored", "spoken in sleep"),
        ("I'll strangle my sister for posting that photo ha ha", "marked as a joke"),
        ('the "self-harm history" box on the referral form is blank', "training or general"),
        ("Reminder: anyone with a fall and a head strike on warfarin goes to A&E", "training"),
        ("GP rang back: the chest pain settled and she found no cause for concern", "the past"),
    ],
)
def test_holdout_v9_round_context(text: str, note: str) -> None:
    analysis = RULES.analyze(text)
    assert analysis.level < HIGH
    assert any(note in reason for reason in analysis.reasons), analysis.reasons


def test_a_closed_case_does_not_drop_a_current_emergency() -> None:
    # "settled" alone (back to bed) is not a closed case.
    assert RULES.analyze("crushing chest pain, settled in bed, ambulance called").level is CRITICAL
