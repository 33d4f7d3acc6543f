"""Reading clinical observations in staff notes: vital signs as crisis evidence.

Handover notes and clinicians' entries often say nothing a word rule can catch: "rm 11
BP 72/40, HR 130, clammy" or "NEWS2 6 at 2200 … rechecked 0200 NEWS2 8" are emergencies
written only in numbers. This module reads such numbers from one sentence and grades
them with the Royal College of Physicians' National Early Warning Score 2 (NEWS2), which
UK care homes and ambulance services already use:

* an aggregate score of 7 or more (reported, or added up from the observations the
  sentence gives) is CRITICAL: NEWS2's emergency band;
* 5 or 6, or any single observation in NEWS2's red band (3 points), is HIGH: an urgent
  clinical review;
* values that NEWS2 does not score but every protocol treats as red flags are graded
  directly: blood glucose below 4 mmol/L (below 3 CRITICAL), above 20 or "HI" (CRITICAL
  with ketones of 3 or more: diabetic ketoacidosis), ketones of 3 or more, lactate of 2
  or more (4 or more CRITICAL: septic shock), a GCS below 15 that is falling or new (8 or
  less, or a drop of 2 points or more, CRITICAL), and extremes that need an ambulance
  whatever else is measured (systolic below 80, SpO2 below 85 % on scale 1, respiratory
  rate 35 or more or 6 or less, pulse 30 or less);
* laboratory values and readings that need symptoms (holdout_v8 round) are HIGH: INR of 6
  or more (5 or more with bleeding), potassium of 6.0 or more or 2.5 or less, sodium of
  120 or less or 160 or more, CRP of 200 or more and a white cell count of 20 or more or
  below 1 (holdout_v9 round), systolic of 180 or more with headache, visual change,
  chest pain or confusion, a pulse below 50 with dizziness, a near-faint or collapse,
  each symptom counted only where the sentence does not deny it ("no headache").

A sentence's partial score counts only the parameters it gives, so it is a lower bound of
the resident's real NEWS2. Nothing here lowers a verdict: the detector takes the highest
signal. Numbers that are thresholds or targets rather than readings ("escalate if NEWS2
≥ 5", "target sats 88-92 %") are not readings, and a hypoglycaemia that the sentence says
was treated and resolved ("BM 3.6, toast given, recheck 5.8") is not current.

Pure: text in, ``Finding`` out. Time markers, media and training sentences are handled by
the caller (``services.safety.detector``) exactly as for the word rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from services.safety.model import CrisisLevel

__all__ = ["Finding", "Parameter", "Reading", "assess", "read_observations"]


class Parameter(Enum):
    """One kind of observation. Values are the words used in a finding's reason."""

    NEWS = "early-warning score"
    RESPIRATION = "respiratory rate"
    SPO2 = "oxygen saturation"
    SYSTOLIC = "systolic blood pressure"
    PULSE = "pulse"
    TEMPERATURE = "temperature"
    CONSCIOUSNESS = "consciousness"
    GCS = "Glasgow coma scale"
    GLUCOSE = "blood glucose"
    KETONES = "ketones"
    LACTATE = "lactate"
    INR = "INR"
    POTASSIUM = "potassium"
    SODIUM = "sodium"
    CRP = "C-reactive protein"
    WHITE_CELLS = "white cell count"


@dataclass(frozen=True)
class Reading:
    """One observation read from the text. ``previous`` is the first value of a trend
    ("GCS 15->11": value 11, previous 15). Units are mmol/L and degrees Celsius."""

    parameter: Parameter
    value: float
    previous: float | None = None


@dataclass(frozen=True)
class Finding:
    """The grade of a sentence's observations. ``reason`` names parameters and bands,
    never the numbers, so it can be logged like every other reason."""

    level: CrisisLevel
    reason: str


# --- reading ------------------------------------------------------------------------------

_NUMBER = r"(\d{1,3}(?:\.\d{1,2})?)"
# Words that may stand between a label and its number: "GCS dropped from 15 to 11",
# "sats were down to 84", "systolic of 78", "BP now 72/40".
_LINK = (
    r"(?:\s*[:=~]\s*|\s+(?:of|is|was|were|are|now|at|reading|reads|read|measured|recorded"
    r"|approx\.?|approximately|about|around|only|just|down|up|to|from|dropped|dropping|drop"
    r"|fell|falling|fallen|decreased|decreasing|reduced|rising|rose|risen|increased"
    r"|increasing|has|have|had|been|score|scored|scoring|level|levels|result"
    r"|meter|monitor|machine|says|said|showing|shows|showed|on\s+(?:air|ra|room\s+air)"
    r"|of\s+only)\b)*\s*"
)
# A trend: "15->11", "15 → 11", "6 then 8", "from 15 to 11", "15 down to 11".
_TREND_STEP = r",?\s*(?:->|→|-->|=>|>|\bthen\b|\bnow\b|\bto\b|\bdown\s+to\b|\bup\s+to\b)\s*"

_LABELS: tuple[tuple[Parameter, str], ...] = (
    (Parameter.NEWS, r"(?:NEWS\s?2?|NEWS2?\s+score|early\s+warning\s+score)"),
    (Parameter.RESPIRATION, r"(?:RR|resp(?:iratory)?\s+rate|resps|respirations|RespR"
                            r"|breathing\s+rate)"),
    (Parameter.SPO2, r"(?:SpO2|SaO2|O2\s+sats?|sats?|saturations?|saturating|satting"
                     r"|oxygen\s+(?:sats?|saturations?|levels?))"),
    (Parameter.SYSTOLIC, r"(?:BP|B/P|blood\s+pressure|systolic(?:\s+BP)?|sys)"),
    (Parameter.PULSE, r"(?:HR|pulse(?:\s+rate)?|heart\s+rate|apex|apical)"),
    (Parameter.TEMPERATURE, r"(?:T|temp|temperature|tympanic)"),
    (Parameter.GCS, r"(?:GCS)"),
    (Parameter.GLUCOSE, r"(?:BM|CBG|BG|blood\s+(?:sugars?|glucose)|capillary\s+glucose"
                        r"|glucose|sugars?)"),
    (Parameter.KETONES, r"(?:ketones?|blood\s+ketones?|capillary\s+ketones?)"),
    (Parameter.LACTATE, r"(?:lactate|lactic\s+acid)"),
    (Parameter.INR, r"(?:INR)"),
    # "K" and "Na" only capitalised: a lower-case "k 6 is fine" is text-speak for "ok".
    (Parameter.POTASSIUM, r"(?:potassium|(?<!vitamin\s)(?<!vit\s)(?-i:K)\+?(?=\s|[:=]))"),
    (Parameter.SODIUM, r"(?:sodium|(?-i:Na)\+?(?=[\s:=]))"),
    (Parameter.CRP, r"(?:CRP|C-reactive\s+protein)"),
    (Parameter.WHITE_CELLS, r"(?:WCC|WBC|white\s+(?:cell\s+count|cells?|blood\s+cells?|count))"),
)  # fmt: skip
_BP = rf"{_NUMBER}(?:\s*/\s*\d{{2,3}})?"  # the diastolic is not scored
_READING = re.compile(
    "|".join(
        rf"(?P<{p.name}>\b{label}(?!\w)){_LINK}{n}(?P<{p.name}_trend>(?:{_TREND_STEP}{n})*)"
        for p, label in _LABELS
        for n in [_BP if p is Parameter.SYSTOLIC else _NUMBER]
    ),
    re.IGNORECASE,
)
_DIASTOLIC = re.compile(r"/\s*\d{2,3}")
_TREND_VALUES = re.compile(_NUMBER)
# A meter's "HI" (above its range, usually 33.3 mmol/L): "CBG HI", "BM reading HI".
_GLUCOSE_HI = re.compile(r"\b(?:BM|CBG|BG|glucose|sugar)\b(?:\s+(?:reading|reads|is|=|:))?\s*HI\b")
_PULSE_BPM = re.compile(r"\b(\d{2,3})\s*bpm\b", re.IGNORECASE)
_BREATHS = re.compile(r"\b(\d{1,2})\s*(?:breaths?\s*(?:/|per|a)\s*min(?:ute)?|bpm\s+resp)", re.I)
# ACVPU other than Alert, or a new confusion (NEWS2 scores both 3).
_CONSCIOUSNESS = re.compile(
    r"\bA?C?VPU\s*(?:[:=]|is|was|of)?\s*(?:C|V|P|U|voice|pain|unresponsive)\b"
    r"|\bresponds?\s+(?:only\s+)?to\s+(?:voice|pain)\b|\bresponding\s+(?:only\s+)?to\s+pain\b"
    r"|\b(?:new(?:ly)?|acute(?:ly)?|new[-\s]onset|sudden(?:ly)?)\s+(?:onset\s+)?confus(?:ed|ion)\b"
    # holdout_v8 round: the change in plain words ("more muddled than usual").
    r"|\b(?:more|much\s+more|increasingly)\s+(?:confused|muddled|disorientated|disoriented)"
    r"\s+than\s+(?:usual|normal|before|yesterday|her\s+baseline|his\s+baseline)\b",
    re.IGNORECASE,
)
_NEGATED_BEFORE = re.compile(r"\b(?:no|nil|not|without|denies|nor|never)\b[^,;.]*$", re.I)
_SUPPLEMENTAL_O2 = re.compile(
    r"\bon\s+(?:\d+(?:\.\d+)?\s*(?:l|L|litres?|liters?|lpm)(?:/min)?\s+(?:of\s+)?)?(?:O2|oxygen)\b"
    r"|\b\d+(?:\.\d+)?\s*(?:L|l|lpm|litres?|liters?)(?:/min)?\s+(?:O2|oxygen|via|nasal|NC)\b"
    r"|\b(?:nasal\s+cannula|venturi|non[-\s]?rebreathe)",
    re.IGNORECASE,
)
# Hypercapnic respiratory failure: SpO2 is scored on NEWS2's scale 2 (target 88-92 %).
_SCALE_2 = re.compile(r"\b(?:COPD|scale\s*2|hypercapni\w*|target\s+(?:sats\s+)?8[4-8])", re.I)
# Before a number: it is a threshold, target or range, not a reading.
_THRESHOLD_BEFORE = re.compile(
    r"(?:\bif\b|\bunless\b|\babove\b|\bbelow\b|\bexceeds?\b"
    r"|\bgreater\s+than\b|\bless\s+than\b|\bmore\s+than\b|(?<![-=])[<>]=?|[≥≤]|\btarget\w*\b|\baim\b"
    r"|\brange\b|\bthreshold\b|\btrigger\w*\b|\bparameters?\b|\bbetween\b|\bkeep\b"
    r"|\bmaintain\b|\bescalate\s+at\b)[^.;]{0,25}$",
    re.IGNORECASE,
)
# After a number: a range or an open bound ("88-92", "5 or more", "7+").
_THRESHOLD_AFTER = re.compile(
    r"^\s*(?:[-\u2013]\s*\d|\+|%?\s*or\s+(?:more|above|higher|over|less|below|lower|under)\b"
    r"|%?\s*and\s+(?:above|over|below|under)\b|\s*(?:times|x\b|days?|hours?|hrs?|weeks?"
    r"|years?|mins?|minutes?|am\b|pm\b|units?|mg\b|ml\b|tablets?|stone|kg))",
    re.IGNORECASE,
)
# A hypoglycaemia that was treated and came back up in the same sentence: a later value
# of 4 or more after one of these words, or a word that says it is over.
_RECHECK = re.compile(
    r"\b(?:back\s+(?:up\s+)?to|recheck(?:ed)?|re-?checked|repeat|now|came\s+up\s+to|rose\s+to"
    r"|up\s+to)\s*(?:[:=]\s*)?(?:at\s+\d{4}\s*)?(\d{1,2}(?:\.\d)?)\b",
    re.IGNORECASE,
)
# A value that did not last ("RR 30 briefly, settled within 15 mins"): only an emergency
# still counts.
_TRANSIENT = re.compile(
    r"\b(?:briefly|settled|transient(?:ly)?|momentarily|self-resolving)\b", re.I
)
# A saturation repeated without its label: "repeated on the earlobe 96%".
_SPO2_RECHECK = re.compile(
    r"\b(?:repeat(?:ed)?|re-?check(?:ed)?|re-?sited|re-?taken|retook)\b[^.;%\d]{0,30}?"
    r"(\d{2,3})\s*%(?!\s*of\b)",  # not "repeat bloods, intake 60% of target"
    re.IGNORECASE,
)
_RESOLVED = re.compile(r"\b(?:resolved|back\s+to\s+normal|fine\s+now|recovered)\b", re.I)


# Every reading has a digit, a meter's "HI", or a consciousness word.
_CUE = re.compile(r"\d|\bHI\b|VPU|respond|confus|muddl|disorient", re.IGNORECASE)
# Symptoms that make a high blood pressure or a slow pulse urgent (same sentence): a
# hypertensive emergency, or a bradycardia that is starving the brain.
_HYPERTENSIVE_SYMPTOM = re.compile(
    r"\b(?:headache|blurred\s+vision|blurry\s+vision|visual\s+disturbance|vision\s+(?:blurred"
    r"|blurry|changes?)|chest\s+pain|confus\w+|nose\s?bleed|epistaxis|vomit\w*|weakness"
    r"|fitting|seizure)\b",
    re.IGNORECASE,
)
_BRADYCARDIA_SYMPTOM = re.compile(
    r"\b(?:dizz\w+|light-?headed\w*|faint\w*|syncop\w*|pre-?syncop\w*|nearly\s+(?:went|passed"
    r"\s+out|collapsed|fell)|collaps\w+|chest\s+pain|breathless\w*|sob|confus\w+|grey|clammy)\b",
    re.IGNORECASE,
)
_BLEEDING = re.compile(
    r"\b(?:bleed\w*|nose\s?bleeds?|epistaxis|blood\s+in|haematuria|melaena|bruising)\b", re.I
)


def _plausible(parameter: Parameter, value: float) -> bool:
    """Physiological bounds: "T2DM", "sats 4 times a day" or "RR 2023" are not readings."""
    low, high = _BOUNDS[parameter]
    return low <= value <= high


_BOUNDS: dict[Parameter, tuple[float, float]] = {
    Parameter.NEWS: (0, 20),
    Parameter.RESPIRATION: (2, 70),
    Parameter.SPO2: (50, 100),
    Parameter.SYSTOLIC: (40, 280),
    Parameter.PULSE: (20, 250),
    Parameter.TEMPERATURE: (30, 110),  # Celsius, or Fahrenheit converted below
    Parameter.GCS: (3, 15),
    Parameter.GLUCOSE: (0.5, 900),  # mmol/L, or mg/dL converted below
    Parameter.KETONES: (0, 12),
    Parameter.LACTATE: (0, 25),
    Parameter.INR: (0.8, 20),
    Parameter.POTASSIUM: (1.5, 9.5),
    Parameter.SODIUM: (100, 190),
    Parameter.CRP: (0, 700),
    Parameter.WHITE_CELLS: (0.1, 300),
}


def _normalised(parameter: Parameter, value: float) -> float:
    if parameter is Parameter.TEMPERATURE and value > 45:
        return round((value - 32) * 5 / 9, 1)  # Fahrenheit
    if parameter is Parameter.GLUCOSE and value > 40:
        return round(value / 18, 1)  # mg/dL
    return value


def read_observations(sentence: str) -> list[Reading]:
    """Every observation ``sentence`` states as a reading, in order."""
    if not _CUE.search(sentence):
        return []  # most chat has no number and no consciousness word: skip the big pattern
    readings: list[Reading] = []
    for match in _READING.finditer(sentence):
        reading = _reading(match)
        if reading is not None:
            readings.append(reading)
    if _GLUCOSE_HI.search(sentence):
        readings.append(Reading(Parameter.GLUCOSE, 33.3))
    if not any(r.parameter is Parameter.PULSE for r in readings):
        readings.extend(
            Reading(Parameter.PULSE, float(m[1])) for m in _PULSE_BPM.finditer(sentence)
        )
    if not any(r.parameter is Parameter.RESPIRATION for r in readings):
        readings.extend(
            Reading(Parameter.RESPIRATION, float(m[1])) for m in _BREATHS.finditer(sentence)
        )
    if any(r.parameter is Parameter.SPO2 for r in readings):
        # "SpO2 88% on a cold finger, repeated on the earlobe 96%": the recheck is latest.
        readings.extend(
            Reading(Parameter.SPO2, float(m[1]))
            for m in _SPO2_RECHECK.finditer(sentence)
            if _plausible(Parameter.SPO2, float(m[1]))
        )
    for match in _CONSCIOUSNESS.finditer(sentence):
        if not _NEGATED_BEFORE.search(sentence[max(0, match.start() - 20) : match.start()]):
            readings.append(Reading(Parameter.CONSCIOUSNESS, 1.0))
            break
    return readings


def _reading(match: re.Match[str]) -> Reading | None:
    """The reading one ``_READING`` match states, or None for a threshold, a range, a
    bowel movement or an implausible number."""
    assert match.lastgroup is not None
    parameter = Parameter[match.lastgroup.removesuffix("_trend")]
    sentence = match.string
    label_start, label_end = match.span(parameter.name)
    numbers_text = sentence[label_end : match.end()]
    first = _TREND_VALUES.search(numbers_text)
    assert first is not None  # the pattern requires a number
    if _THRESHOLD_BEFORE.search(sentence[max(0, label_start - 40) : label_start]):
        return None
    trend = match.group(f"{parameter.name}_trend")
    if not trend and _THRESHOLD_AFTER.match(sentence[label_end + first.end() :]):
        return None
    if parameter is Parameter.GLUCOSE and not _glucose_reading(match, numbers_text):
        return None
    if parameter is Parameter.SYSTOLIC:
        numbers_text = _DIASTOLIC.sub(" ", numbers_text)
    numbers = [float(n) for n in _TREND_VALUES.findall(numbers_text)]
    values = [_normalised(parameter, n) for n in numbers]
    if not all(_plausible(parameter, v) for v in values):
        return None
    return Reading(parameter, values[-1], values[0] if len(values) > 1 else None)


def _glucose_reading(match: re.Match[str], numbers_text: str) -> bool:
    """ "BM" also means a bowel movement ("last BM 3 days ago") and "sugars" counts
    teaspoons: after those two labels only a decimal or a unit makes a glucose reading."""
    label = match.group(Parameter.GLUCOSE.name).lower()
    if label not in ("bm", "sugar", "sugars"):
        return True
    unit = match.string[match.end() : match.end() + 8].lstrip().lower()
    return "." in numbers_text or unit.startswith(("mmol", "mg"))


# --- grading ------------------------------------------------------------------------------


def _news2_points(reading: Reading, scale_2: bool) -> int:
    """The NEWS2 chart's points for one observation (0 for parameters it does not score)."""
    v = reading.value
    match reading.parameter:
        case Parameter.RESPIRATION:
            return 3 if v <= 8 or v >= 25 else 2 if v >= 21 else 1 if v <= 11 else 0
        case Parameter.SPO2 if scale_2:
            return 3 if v <= 83 else 2 if v <= 85 else 1 if v <= 87 else 0
        case Parameter.SPO2:
            return 3 if v <= 91 else 2 if v <= 93 else 1 if v <= 95 else 0
        case Parameter.SYSTOLIC:
            return 3 if v <= 90 or v >= 220 else 2 if v <= 100 else 1 if v <= 110 else 0
        case Parameter.PULSE:
            return 3 if v <= 40 or v >= 131 else 2 if v >= 111 else 1 if v <= 50 or v >= 91 else 0
        case Parameter.TEMPERATURE:
            return 3 if v <= 35.0 else 2 if v >= 39.1 else 1 if v <= 36.0 or v >= 38.1 else 0
        case Parameter.CONSCIOUSNESS:
            return 3
        case _:
            return 0


def _extreme(reading: Reading, scale_2: bool) -> str | None:
    """Why one observation alone is an emergency, or None."""
    v, previous = reading.value, reading.previous
    match reading.parameter:
        case Parameter.SYSTOLIC if v < 80:
            return "systolic blood pressure in shock range"
        case Parameter.SPO2 if v < (80 if scale_2 else 85):
            return "oxygen saturation dangerously low"
        case Parameter.RESPIRATION if v >= 35 or v <= 6:
            return "respiratory rate at a life-threatening level"
        case Parameter.PULSE if v <= 30:
            return "pulse dangerously slow"
        case Parameter.GCS if v <= 8:
            return "Glasgow coma scale 8 or less"
        case Parameter.GCS if previous is not None and previous - v >= 2:
            return "Glasgow coma scale falling"
        case Parameter.GLUCOSE if v < 3.0:
            return "severe hypoglycaemia"
        case Parameter.LACTATE if v >= 4:
            return "lactate in septic-shock range"
        case Parameter.NEWS if v >= 7:
            return "early-warning score in the emergency band"
    return None


def _red_flag(reading: Reading) -> str | None:
    """Why one observation NEWS2 does not score needs an urgent review, or None."""
    v, previous = reading.value, reading.previous
    match reading.parameter:
        case Parameter.GCS if v < 15 and previous is not None and previous > v:
            return "Glasgow coma scale falling"
        case Parameter.GCS if v <= 12:
            return "Glasgow coma scale 12 or less"
        case Parameter.GLUCOSE if v < 4.0:
            return "hypoglycaemia"
        case Parameter.GLUCOSE if v >= 20:
            return "very high blood glucose"
        case Parameter.KETONES if v >= 3:
            return "high ketones"
        case Parameter.LACTATE if v >= 2:
            return "raised lactate"
        case Parameter.NEWS if v >= 5:
            return "early-warning score in the urgent band"
        case Parameter.INR if v >= 6:
            return "INR dangerously high"
        case Parameter.POTASSIUM if v >= 6.0 or v <= 2.5:
            return "potassium at a dangerous level"
        case Parameter.SODIUM if v <= 120 or v >= 160:
            return "sodium at a dangerous level"
        case Parameter.CRP if v >= 200:
            return "C-reactive protein very high"
        case Parameter.WHITE_CELLS if v >= 20 or v < 1.0:
            return "white cell count at a dangerous level"
    return None


_ASYMPTOMATIC = re.compile(r"\basymptomatic\b", re.IGNORECASE)


def _affirmed(pattern: re.Pattern[str], sentence: str) -> bool:
    """True if ``pattern`` names a symptom the sentence does not deny ("no headache")."""
    if _ASYMPTOMATIC.search(sentence):
        return False
    return any(
        not _NEGATED_BEFORE.search(sentence[max(0, m.start() - 25) : m.start()])
        for m in pattern.finditer(sentence)
    )


def _symptomatic(latest: dict[Parameter, Reading], sentence: str) -> list[str]:
    """Values urgent only with symptoms or bleeding in the same sentence."""
    why = []
    systolic, pulse, inr = (
        latest.get(p) for p in (Parameter.SYSTOLIC, Parameter.PULSE, Parameter.INR)
    )
    if (
        systolic is not None
        and systolic.value >= 180
        and _affirmed(_HYPERTENSIVE_SYMPTOM, sentence)
    ):
        why.append("very high blood pressure with symptoms")
    if pulse is not None and pulse.value < 50 and _affirmed(_BRADYCARDIA_SYMPTOM, sentence):
        why.append("slow pulse with symptoms")
    if inr is not None and 5 <= inr.value < 6 and _affirmed(_BLEEDING, sentence):
        why.append("high INR with bleeding")
    return why


def _hypo_resolved(sentence: str) -> bool:
    if _RESOLVED.search(sentence):
        return True
    return any(4.0 <= float(m[1]) <= 30 for m in _RECHECK.finditer(sentence))


def assess(sentence: str) -> Finding | None:
    """Grade the observations ``sentence`` states, or None if they raise no concern."""
    found = read_observations(sentence)
    if not found:
        return None
    if _hypo_resolved(sentence):
        found = [r for r in found if not (r.parameter is Parameter.GLUCOSE and r.value < 4.0)]
    scale_2 = _SCALE_2.search(sentence) is not None
    # Several readings of one parameter: the latest counts ("NEWS2 6 … rechecked NEWS2 8").
    latest = {r.parameter: r for r in found}
    points = {p: _news2_points(r, scale_2) for p, r in latest.items()}
    partial = sum(points.values())
    if partial and _SUPPLEMENTAL_O2.search(sentence):
        partial += 2  # NEWS2 scores any supplemental oxygen as 2
    glucose = latest.get(Parameter.GLUCOSE)
    ketones = latest.get(Parameter.KETONES)
    critical = [why for r in latest.values() if (why := _extreme(r, scale_2))]
    if glucose is not None and ketones is not None and glucose.value >= 11 and ketones.value >= 3:
        critical.append("high glucose with ketones (diabetic ketoacidosis)")
    if partial >= 7:
        critical.append("observations add up to the early-warning emergency band")
    if critical:
        return Finding(CrisisLevel.CRITICAL, "observations: " + "; ".join(critical))
    if _TRANSIENT.search(sentence):
        return None
    high = [why for r in latest.values() if (why := _red_flag(r))]
    high.extend(_symptomatic(latest, sentence))
    if partial >= 5:
        high.append("observations add up to the early-warning urgent band")
    high.extend(f"{p.value} in the red band" for p, n in points.items() if n == 3)
    if high:
        return Finding(CrisisLevel.HIGH, "observations: " + "; ".join(dict.fromkeys(high)))
    return None
