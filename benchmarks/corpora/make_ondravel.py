"""Write the development corpus of the fictional Ondravel Institute, its question set and its fact table.

    python benchmarks/corpora/make_ondravel.py

A second corpus beside `sample_corpus/` (the demo), in another style and another world. The
sample corpus states one fact per short template sentence; this one writes the way real documents
do: pronoun subjects that point back to the previous sentence ("It is run from the Brackuth
station"), passive voice, subordinate and relative clauses ("Because Gaspenoth is funded by the
Dassimore Fund, ..."), facts spread over two sentences, headings, bulleted and numbered lists,
form-like field lines ("Project: Drobbelin" / "Lead: ..."), and tables in DOCX and HTML.

The world: a research institute with field stations, projects, principal investigators, funding
bodies, instruments, instrument series and permits. Every proper name is an invented word. Each
fact is stated once, in one direction (subject before object), in one document; the questions are
generated from the same fact table as the documents, so the two cannot drift apart. Outputs (under
`benchmarks/corpora/ondravel/`):

- docs/: 13 documents in five formats (.md, .html, .txt, .docx, .pdf); the folder to ingest.
- questions.jsonl: the question set (design.md schema), seven kinds.
- facts.jsonl: the ground truth, one fact a line.
- README.md: what the corpus is, the fact table, how to run adaptdocs on it.

Byte-for-byte reproducible: the DOCX zip dates are fixed with sample_corpus/make_corpus.py's
`_fixed_zip_dates`, and reportlab runs in invariant mode (no date, no random id).
"""

from __future__ import annotations

import importlib.util
import io
import json
import random
import sys
from dataclasses import dataclass
from html import escape
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "ondravel"
SEED = 20250612
REPO = HERE.parent.parent


def _sample_corpus_module():
    """sample_corpus/make_corpus.py, imported by path (it is a script, not a package)."""
    name = "make_corpus"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "sample_corpus" / "make_corpus.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # its dataclasses look their module up here
        spec.loader.exec_module(module)
    return sys.modules[name]


# ---------------------------------------------------------------------------------------------
# The world. Lists are in a fixed order; every relation below is keyed by these names.

INSTITUTE = "Ondravel Institute"
STATIONS = ["Brackuth", "Tivvaro", "Pellogue", "Hoskaveen"]
PROJECTS = ["Korrimat", "Vessapine", "Naquesh", "Gaspenoth", "Drobbelin", "Filtarro"]
PEOPLE = ["Idrena Vaskell", "Orvid Plenneth", "Hadrek Brinsk", "Mirrane Goffelt", "Tesmira Quarrendt",
          "Levrin Toskett"]
FUNDERS = ["Harnesk Trust", "Voluvant Foundation", "Dassimore Fund", "Oskavine Society"]
INSTRUMENTS = ["Telsamo", "Quandrel", "Sibbeth", "Crellish", "Hessiver", "Jutmaro", "Norrapel", "Ulcarro"]
SERIES = ["Vantrel", "Okkumar", "Lisperane", "Throdd"]
PERMITS = ["Dorvesk", "Borrund", "Cavvin", "Pemmadel"]
INTERVALS = ["every two weeks", "once a year", "every month", "every three months"]
COUNTS = ["one", "two", "three", "four"]

PROJECT_STATION = {"Korrimat": "Brackuth", "Vessapine": "Tivvaro", "Naquesh": "Pellogue",
                   "Gaspenoth": "Tivvaro", "Drobbelin": "Brackuth", "Filtarro": "Hoskaveen"}
PROJECT_LEAD = dict(zip(PROJECTS, PEOPLE))
PROJECT_FUNDER = {"Korrimat": "Harnesk Trust", "Vessapine": "Voluvant Foundation", "Naquesh": "Harnesk Trust",
                  "Gaspenoth": "Dassimore Fund", "Drobbelin": "Voluvant Foundation", "Filtarro": "Oskavine Society"}
INSTRUMENT_PROJECT = {"Telsamo": "Korrimat", "Quandrel": "Vessapine", "Sibbeth": "Naquesh", "Crellish": "Korrimat",
                      "Hessiver": "Drobbelin", "Jutmaro": "Gaspenoth", "Norrapel": "Filtarro", "Ulcarro": "Vessapine"}
INSTRUMENT_SERIES = {"Telsamo": "Vantrel", "Quandrel": "Okkumar", "Sibbeth": "Lisperane", "Crellish": "Throdd",
                     "Hessiver": "Vantrel", "Jutmaro": "Vantrel", "Norrapel": "Okkumar", "Ulcarro": "Lisperane"}
SERIES_INTERVAL = dict(zip(SERIES, INTERVALS))
SERIES_PERMIT = dict(zip(SERIES, PERMITS))

# Comparisons: (relation, stated winner, stated loser). Pairs are disjoint within a relation, so
# nothing in the corpus ranks a distractor against the subject.
COMPARISONS = [
    ("bigger_budget", "Korrimat", "Gaspenoth"), ("bigger_budget", "Vessapine", "Filtarro"),
    ("bigger_budget", "Naquesh", "Drobbelin"),
    ("started_earlier", "Drobbelin", "Vessapine"), ("started_earlier", "Gaspenoth", "Naquesh"),
    ("started_earlier", "Filtarro", "Korrimat"),
    ("more_sensitive", "Hessiver", "Quandrel"), ("more_sensitive", "Sibbeth", "Telsamo"),
    ("more_sensitive", "Crellish", "Jutmaro"), ("more_sensitive", "Ulcarro", "Norrapel"),
    ("higher", "Pellogue", "Brackuth"), ("higher", "Hoskaveen", "Tivvaro"),
]
# relation: (noun, stated phrase, reversed phrase)
COMPARATIVES = {
    "bigger_budget": ("project", "has a larger budget than", "has a smaller budget than"),
    "started_earlier": ("project", "started earlier than", "started later than"),
    "more_sensitive": ("instrument", "is more sensitive than", "is less sensitive than"),
    "higher": ("station", "lies higher than", "lies lower than"),
}
NOUN_POOL = {"project": PROJECTS, "instrument": INSTRUMENTS, "station": STATIONS}

# The two tables. A table fact's statement is its row the way design.md reads a table row
# ("Header: cell." for every cell), since that is the only wording the document gives it.
PEOPLE_HEADER = ["Project", "Principal investigator", "Extension"]
PEOPLE_ROWS = [("Korrimat", "4410"), ("Vessapine", "4415"), ("Naquesh", "4422"), ("Gaspenoth", "4431")]
REGISTER_HEADER = ["Instrument", "Series", "Room"]
REGISTER_ROWS = [("Telsamo", "Room 12"), ("Quandrel", "Room 4"), ("Sibbeth", "Room 7"), ("Crellish", "Room 2")]

# ---------------------------------------------------------------------------------------------
# How each fact is worded, and where. "{s}" and "{o}" are filled from the relations above, so the
# wording cannot disagree with the fact table. The subject always comes before the object; the
# statement is the whole stretch of text from the sentence that names the subject to the one that
# names the object (two sentences where a pronoun carries the subject over).

WORDING: dict[tuple[str, str], tuple[str, str]] = {
    # based_at
    ("Korrimat", "based_at"): ("projects.md", "{s} looks at how fine silt settles in slow rivers. "
                               "It is run from the {o} station, where the river cores are kept in a cold store."),
    ("Vessapine", "based_at"): ("projects.md", "The {s} project, which counts the insects that live on wet "
                                "meadows, is based at the {o} station."),
    ("Naquesh", "based_at"): ("projects.md", "{s} measures how quickly rain soaks into farm soil. Because most "
                              "of its plots are close by, it is run from the {o} station."),
    ("Gaspenoth", "based_at"): ("projects.md", "{s} follows the spread of moss on old stone walls. Its samples "
                                "are dried and weighed at the {o} station, which is where the project is based."),
    ("Drobbelin", "based_at"): ("newsletter.html", "The {s} project moved into new rooms this summer. It is now "
                                "based at the {o} station, in the building next to the cold store."),
    ("Filtarro", "based_at"): ("station_guide.txt", "The {s} project, which studies the lake in every season, "
                               "is run from the {o} station."),
    # led_by (the other four are rows of the table in people.docx)
    ("Drobbelin", "led_by"): ("meeting_minutes.txt", "Project: {s}. Lead: {o}."),
    ("Filtarro", "led_by"): ("newsletter.html", "Although the {s} project is led by {o}, most of its field work "
                             "is done by students."),
    # funded_by
    ("Korrimat", "funded_by"): ("funding_report.pdf", "The {s} project is funded by the {o}, which renewed its "
                                "grant in the spring."),
    ("Vessapine", "funded_by"): ("funding_report.pdf", "{s} receives its money from the {o}."),
    ("Naquesh", "funded_by"): ("funding_report.pdf", "{s} had to wait a year for its money. It is now paid for by "
                               "the {o}, which gave it a three-year grant."),
    ("Gaspenoth", "funded_by"): ("funding_report.pdf", "Because {s} is funded by the {o}, its reports are written "
                                 "in the fund's own format."),
    ("Drobbelin", "funded_by"): ("faq.html", "The {s} project is funded by the {o}."),
    ("Filtarro", "funded_by"): ("projects.md", "{s} studies how lake ice forms and breaks up. The work is funded "
                                "by the {o}."),
    # used_by
    ("Telsamo", "used_by"): ("projects.md", "The {s} instrument is used by the {o} project to weigh each core "
                             "before it is cut."),
    ("Quandrel", "used_by"): ("newsletter.html", "Since the spring, the {s} instrument has been used by the {o} "
                              "project."),
    ("Sibbeth", "used_by"): ("funding_report.pdf", "The {s} instrument is used by the {o} project, and it was "
                             "bought with the same grant."),
    ("Crellish", "used_by"): ("safety_rules.docx", "The {s} instrument, which is kept in a locked cabinet, is "
                              "used by the {o} project."),
    ("Hessiver", "used_by"): ("meeting_minutes.txt", "Because the {s} instrument is used by the {o} project, it "
                              "will not be lent to other projects this year."),
    ("Jutmaro", "used_by"): ("safety_rules.docx", "The {s} instrument is used by the {o} project."),
    ("Norrapel", "used_by"): ("station_guide.txt", "The {s} instrument is used by the {o} project."),
    ("Ulcarro", "used_by"): ("lab_handbook.md", "{s} is the newest instrument at the institute. It is used by "
                             "the {o} project, mostly at night."),
    # is_a (the other four are rows of the register table in instruments.html)
    ("Hessiver", "is_a"): ("lab_handbook.md", "{s} belongs to the {o} series and is kept under a dust cover."),
    ("Jutmaro", "is_a"): ("safety_rules.docx", "{s} is one of the {o} instruments, and its casing can burn "
                          "your hand."),
    ("Norrapel", "is_a"): ("station_guide.txt", "The {s} instrument is used by the Filtarro project. It belongs "
                           "to the {o} series and is carried out onto the ice on a sledge."),
    ("Ulcarro", "is_a"): ("newsletter.html", "The {s} instrument, which belongs to the {o} series, arrived in "
                          "May after a long wait."),
    # calibrated (series)
    ("Vantrel", "calibrated"): ("calibration_schedule.pdf", "Because {s} instruments drift quickly, they are "
                                "calibrated {o}."),
    ("Okkumar", "calibrated"): ("calibration_schedule.pdf", "{s} instruments hold their settings well. They are "
                                "calibrated {o}, in the spring."),
    ("Lisperane", "calibrated"): ("calibration_schedule.pdf", "The {s} series is calibrated {o} by the "
                                  "supplier's engineer, who visits each station in turn."),
    ("Throdd", "calibrated"): ("calibration_schedule.pdf", "{s} instruments are a special case. They are sent "
                               "back to the maker and calibrated {o}."),
    # permit (series)
    ("Vantrel", "permit"): ("permits.txt", "Series: {s}. Permit: {o}."),
    ("Okkumar", "permit"): ("permits.txt", "Series: {s}. Permit: {o}."),
    ("Lisperane", "permit"): ("safety_rules.docx", "Anyone who operates a {s} instrument must hold a {o} permit, "
                              "which is issued after a one-day course."),
    ("Throdd", "permit"): ("lab_handbook.md", "{s} instruments contain a strong laser. They may only be operated "
                           "by staff who hold a {o} permit."),
    # comparisons
    ("Korrimat", "bigger_budget"): ("funding_report.pdf", "The {s} project has a larger budget than the {o} "
                                    "project, mainly because its cores must be kept cold."),
    ("Vessapine", "bigger_budget"): ("funding_report.pdf", "Although it has fewer staff, the {s} project has a "
                                     "larger budget than the {o} project."),
    ("Naquesh", "bigger_budget"): ("funding_report.pdf", "The {s} project has a larger budget than the {o} "
                                   "project."),
    ("Drobbelin", "started_earlier"): ("projects.md", "{s} tracks the worms and fungi that break down fallen "
                                       "leaves. It started earlier than the {o} project, and it still uses its "
                                       "first plots."),
    ("Gaspenoth", "started_earlier"): ("newsletter.html", "The {s} project started earlier than the {o} project, "
                                       "and its first walls were chosen before the Pellogue station was built."),
    ("Filtarro", "started_earlier"): ("newsletter.html", "{s} started earlier than {o}, so its records of the "
                                      "lake go back further."),
    ("Hessiver", "more_sensitive"): ("sensitivity_notes.md", "Although the {s} instrument is small, it is more "
                                     "sensitive than the {o} instrument."),
    ("Sibbeth", "more_sensitive"): ("sensitivity_notes.md", "The {s} instrument is more sensitive than the {o} "
                                    "instrument."),
    ("Crellish", "more_sensitive"): ("sensitivity_notes.md", "The tests showed that the {s} instrument is more "
                                     "sensitive than the {o} instrument."),
    ("Ulcarro", "more_sensitive"): ("sensitivity_notes.md", "The {s} instrument was tested last. It is more "
                                    "sensitive than the {o} instrument, although it takes longer to warm up."),
    ("Pellogue", "higher"): ("station_guide.txt", "The {s} station sits in the hills above the lake. It lies "
                             "higher than the {o} station."),
    ("Hoskaveen", "higher"): ("station_guide.txt", "The {s} station lies higher than the {o} station, so the road "
                              "to it is often closed after snow."),
}

# The same fact the other way round: appears in no document (augmentation may write it).
REVERSED = {
    "based_at": "The {o} station is home to the {s} project.",
    "led_by": "{o} leads the {s} project.",
    "funded_by": "The {o} funds the {s} project.",
    "used_by": "The {o} project uses the {s} instrument.",
    "is_a": "The {o} series includes the {s} instrument.",
    "calibrated": "The series whose instruments are calibrated {o} is the {s} series.",
    "permit": "A {o} permit is what the {s} series requires.",
}


@dataclass
class Fact:
    subject: str
    relation: str
    object: str
    statement: str
    reversed_statement: str
    document: str

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def table_row(header: list[str], cells: list[str]) -> str:
    """A table row as design.md reads it: every header paired with its cell."""
    return " ".join(f"{h}: {c}." for h, c in zip(header, cells))


def build_facts() -> list[Fact]:
    facts: list[Fact] = []
    relations = [
        ("based_at", PROJECT_STATION), ("led_by", PROJECT_LEAD), ("funded_by", PROJECT_FUNDER),
        ("used_by", INSTRUMENT_PROJECT), ("is_a", INSTRUMENT_SERIES), ("calibrated", SERIES_INTERVAL),
        ("permit", SERIES_PERMIT),
    ]
    people_rows = dict(PEOPLE_ROWS)
    register_rows = dict(REGISTER_ROWS)
    for relation, mapping in relations:
        for subject, obj in mapping.items():
            reverse = REVERSED[relation].format(s=subject, o=obj)
            if relation == "led_by" and subject in people_rows:
                statement = table_row(PEOPLE_HEADER, [subject, obj, people_rows[subject]])
                document = "people.docx"
            elif relation == "is_a" and subject in register_rows:
                statement = table_row(REGISTER_HEADER, [subject, obj, register_rows[subject]])
                document = "instruments.html"
            else:
                document, frame = WORDING[(subject, relation)]
                statement = frame.format(s=subject, o=obj)
            facts.append(Fact(subject, relation, obj, statement, reverse[0].upper() + reverse[1:], document))
    for relation, winner, loser in COMPARISONS:
        noun, _, reverse = COMPARATIVES[relation]
        document, frame = WORDING[(winner, relation)]
        facts.append(Fact(winner, relation, loser, frame.format(s=winner, o=loser),
                          f"The {loser} {noun} {reverse} the {winner} {noun}.", document))
    return facts


def fact(facts: list[Fact], subject: str, relation: str) -> Fact:
    return next(f for f in facts if f.subject == subject and f.relation == relation)


# ---------------------------------------------------------------------------------------------
# Documents: each a title and a list of blocks: ("h", text) | ("p", sentences) | ("ul", items) |
# ("ol", items) | ("fields", [(label, value), ...]) | ("table", header, rows). Fact text comes from
# the fact table; the rest is ordinary prose that states no relation between the invented entities.


def build_documents(facts: list[Fact]) -> dict[str, tuple[str, list[tuple]]]:
    def says(subject: str, relation: str) -> str:
        return fact(facts, subject, relation).statement

    docs: dict[str, tuple[str, list[tuple]]] = {}
    docs["projects.md"] = ("Projects at the Ondravel Institute", [
        ("p", [f"The {INSTITUTE} studies how water, soil and weather shape the land around its field stations.",
               "Most of that work is done in six long-running projects, which are described below.",
               "Each project keeps its own samples and records, although the data are shared across the "
               "institute once they have been checked."]),
        ("h", "Korrimat"),
        ("p", [says("Korrimat", "based_at"), says("Telsamo", "used_by")]),
        ("h", "Vessapine"),
        ("p", [says("Vessapine", "based_at"), "Its counts are made by hand, twice a week, from May to September."]),
        ("h", "Naquesh"),
        ("p", [says("Naquesh", "based_at"),
               "Farmers who lend their fields to the project are sent a short summary every winter."]),
        ("h", "Gaspenoth"),
        ("p", [says("Gaspenoth", "based_at"),
               "The walls are photographed from the same spot every year, so that the growth can be measured."]),
        ("h", "Drobbelin"),
        ("p", [says("Drobbelin", "started_earlier"), "Its results are described in the autumn newsletter."]),
        ("h", "Filtarro"),
        ("p", [says("Filtarro", "funded_by"), "Its field season runs from the first frost to the thaw."]),
    ])
    docs["newsletter.html"] = ("Autumn newsletter", [
        ("p", ["Welcome to the autumn newsletter.", "It was a wet summer at every station, and it was a busy one."]),
        ("h", "New rooms for Drobbelin"),
        ("p", [says("Drobbelin", "based_at"),
               "The old rooms will be used for storage until their roof has been repaired."]),
        ("h", "A new instrument"),
        ("p", [says("Ulcarro", "is_a"), "It was unpacked, tested and put to work within a week."]),
        ("h", "People"),
        ("p", [says("Filtarro", "led_by"),
               "She has spent eleven winters on the ice and says that she is not tired of it yet.",
               says("Filtarro", "started_earlier")]),
        ("h", "Around the stations"),
        ("p", [says("Quandrel", "used_by"),
               "It was moved to a quieter room after the first week, because the hum of the freezers upset "
               "its readings.",
               says("Gaspenoth", "started_earlier")]),
        ("ul", ["The canteen at the Tivvaro station now opens at eight.",
                "A second car has been bought for trips between the stations.",
                "The library has moved to the ground floor."]),
    ])
    docs["instruments.html"] = ("Instrument register", [
        ("p", ["This register lists the instruments that the institute owns.",
               "Each instrument belongs to a series, and the series decides how it is calibrated and who may "
               "operate it.",
               "Instruments that are on loan are not listed."]),
        ("h", "Registered instruments"),
        ("table", REGISTER_HEADER, [[i, INSTRUMENT_SERIES[i], room] for i, room in REGISTER_ROWS]),
        ("h", "Moving an instrument"),
        ("p", ["An instrument may only be moved after the project that uses it has been told.",
               "When it has been moved, it must be checked before it is used again, since even a short trip "
               "can upset its settings."]),
        ("h", "Instruments not in the table"),
        ("p", ["Some instruments are described in other documents, because they were bought after this "
               "register was last printed."]),
    ])
    docs["people.docx"] = ("Principal investigators", [
        ("p", ["Every project at the institute is led by a principal investigator, who answers for its budget, "
               "its staff and its samples.",
               "The table below gives the leads who can be reached by telephone.",
               "The others spend most of their time in the field and are best reached by email."]),
        ("table", PEOPLE_HEADER, [[p, PROJECT_LEAD[p], ext] for p, ext in PEOPLE_ROWS]),
        ("h", "When a lead is away"),
        ("p", ["If a lead is away for more than a week, a deputy is named.",
               "The deputy signs orders and holidays, but not new contracts."]),
        ("ul", ["Tell the office before you name a deputy.", "Write the deputy's name on the project's page.",
                "Remove it when you are back."]),
    ])
    docs["meeting_minutes.txt"] = ("Minutes of the project board, 3 October", [
        ("fields", [("Chair", "the institute director"), ("Present", "all project leads"),
                    ("Place", "meeting room, Brackuth station")]),
        ("h", "Project reports"),
        ("fields", [("Project", "Drobbelin"), ("Lead", PROJECT_LEAD["Drobbelin"]), ("Status", "on track")]),
        ("fields", [("Project", "Naquesh"), ("Status", "behind, because of the wet summer")]),
        ("p", ["The Naquesh plots were flooded twice in July.",
               "They have now dried out, and the board expects the lost weeks to be made up by the spring."]),
        ("h", "Equipment"),
        ("p", [says("Hessiver", "used_by"), "A request to buy a second one was turned down."]),
        ("h", "Actions"),
        ("ol", ["Each lead sends a budget for next year by the end of the month.",
                "The office checks which permits expire before the spring.",
                "The board meets again in January."]),
    ])
    docs["station_guide.txt"] = ("Guide to the field stations", [
        ("p", ["The institute runs four field stations.",
               "They are far apart, and the trip between two of them can take most of a day.",
               "Before you travel, tell the station you are going to, so that a bed can be made up for you."]),
        ("h", "Where the stations are"),
        ("p", [says("Pellogue", "higher"), says("Hoskaveen", "higher")]),
        ("h", "Hoskaveen"),
        ("p", [says("Filtarro", "based_at"), says("Norrapel", "is_a")]),
        ("h", "Staying at a station"),
        ("ul", ["Bring your own sleeping bag.",
                "Meals are cooked by the station staff, and you are asked to help wash up.",
                "Quiet hours start at ten in the evening."]),
    ])
    docs["lab_handbook.md"] = ("Laboratory handbook", [
        ("fields", [("Owner", "the laboratory manager"), ("Status", "approved")]),
        ("p", ["This handbook is for everyone who works with the institute's instruments.",
               "It is short on purpose: read it before your first day in a laboratory, and again whenever a "
               "rule changes."]),
        ("h", "Before you switch an instrument on"),
        ("ol", ["Check that its calibration is not overdue.", "Read the notes left by the last person who used it.",
                "Make sure that you hold the permit it requires.", "Write your name and the time in the logbook."]),
        ("h", "Instruments you may meet"),
        ("ul", [says("Hessiver", "is_a"), says("Ulcarro", "used_by"),
                "Older instruments that are no longer used are kept in the basement."]),
        ("h", "Lasers"),
        ("p", [says("Throdd", "permit"), "The laser is switched off whenever the lid is opened."]),
    ])
    docs["sensitivity_notes.md"] = ("Notes on instrument sensitivity", [
        ("p", ["These notes compare instruments that measure the same things, so that a project can choose the "
               "one it needs.",
               "The tests were run in March, with the same samples on every instrument."]),
        ("h", "Results"),
        ("p", [says("Hessiver", "more_sensitive"), says("Crellish", "more_sensitive")]),
        ("ul", [says("Sibbeth", "more_sensitive"), "Readings below the noise level were left out."]),
        ("p", [says("Ulcarro", "more_sensitive")]),
        ("h", "What this means"),
        ("p", ["A more sensitive instrument is not always the better choice.",
               "It picks up more noise, and its results take longer to check."]),
    ])
    docs["safety_rules.docx"] = ("Safety rules for instruments", [
        ("fields", [("Owner", "the safety officer"), ("Status", "approved")]),
        ("p", ["These rules apply at every station.",
               "They are checked by the safety officer twice a year, and anyone who breaks them may lose their "
               "permit."]),
        ("h", "Permits"),
        ("p", [says("Lisperane", "permit"),
               "Permits for the other series are listed in the permit register."]),
        ("h", "Hot and locked instruments"),
        ("p", [says("Jutmaro", "used_by"), "Because it runs hot, it must never be left on overnight.",
               says("Jutmaro", "is_a")]),
        ("p", [says("Crellish", "used_by"), "Its key is held by the station manager."]),
        ("ul", ["Wear gloves when you handle samples.", "Never eat or drink in a laboratory.",
                "Report every accident, however small, on the same day."]),
    ])
    docs["permits.txt"] = ("Permit register", [
        ("p", ["This register lists the permit that each series of instruments requires.",
               "A permit is personal and cannot be lent to a colleague."]),
        ("fields", [("Series", "Vantrel"), ("Permit", SERIES_PERMIT["Vantrel"]), ("Course", "two days")]),
        ("fields", [("Series", "Okkumar"), ("Permit", SERIES_PERMIT["Okkumar"]), ("Course", "half a day")]),
        ("p", ["The permits for the Lisperane and Throdd series are described in the safety rules and in the "
               "laboratory handbook."]),
        ("h", "Renewing a permit"),
        ("p", ["A permit lasts for three years.", "It is renewed after a short test, which can be taken at any station."]),
    ])
    docs["calibration_schedule.pdf"] = ("Calibration schedule", [
        ("p", ["Every instrument is calibrated on a schedule set by its series.",
               "When a calibration is missed, the instrument is taken out of use until it has been done."]),
        ("h", "Schedule by series"),
        ("p", [says("Vantrel", "calibrated"), says("Okkumar", "calibrated")]),
        ("p", [says("Lisperane", "calibrated")]),
        ("p", [says("Throdd", "calibrated")]),
        ("h", "How a calibration is done"),
        ("ol", ["The instrument is cleaned and left to warm up.", "A reference sample is measured five times.",
                "The readings are compared with the certificate.",
                "The result is written in the logbook and signed."]),
    ])
    docs["funding_report.pdf"] = ("Funding report", [
        ("p", ["The institute does not pay for its projects itself.",
               "Each project is funded by an outside body, and each of those bodies asks for a report every year."]),
        ("h", "Who pays for what"),
        ("p", [says("Korrimat", "funded_by"), says("Vessapine", "funded_by")]),
        ("p", [says("Naquesh", "funded_by"), says("Sibbeth", "used_by")]),
        ("p", [says("Gaspenoth", "funded_by")]),
        ("h", "Budgets"),
        ("p", [says("Korrimat", "bigger_budget"), says("Vessapine", "bigger_budget")]),
        ("ul", [says("Naquesh", "bigger_budget"), "Travel between the stations is paid from a shared pot."]),
    ])
    docs["faq.html"] = ("Questions new staff ask", [
        ("h", "Who pays for Drobbelin?"),
        ("p", [says("Drobbelin", "funded_by"), "The foundation also pays for one student each year."]),
        ("h", "Can I use an instrument that another project uses?"),
        ("p", ["Yes, if that project agrees and you hold the right permit.",
               "Book it in the logbook first, and return it clean."]),
        ("h", "How do I get to a station?"),
        ("p", ["A car leaves the main office every Monday and Thursday.",
               "If it is full, you may take the train and claim the fare back."]),
        ("h", "Where are old results kept?"),
        ("p", ["Results older than five years are archived.",
               "They can be asked for at the library, which will copy them within a week."]),
    ])
    return docs


def rendered_text(blocks: list[tuple]) -> str:
    """The document's words in reading order, whitespace collapsed (table rows as design.md reads them)."""
    parts: list[str] = []
    for block in blocks:
        if block[0] == "h":
            parts.append(block[1])
        elif block[0] in ("p", "ul", "ol"):
            parts += block[1]
        elif block[0] == "fields":
            parts += [f"{label}: {value}." for label, value in block[1]]  # as ingest reads a field line
        elif block[0] == "table":
            parts += [table_row(block[1], row) for row in block[2]]
    return " ".join(" ".join(parts).split())


# ---------------------------------------------------------------------------------------------
# Writers, one per format.


def write_md(path: Path, title: str, blocks: list[tuple]) -> None:
    lines = [f"# {title}", ""]
    for block in blocks:
        if block[0] == "h":
            lines += [f"## {block[1]}", ""]
        elif block[0] == "p":
            lines += [" ".join(block[1]), ""]
        elif block[0] == "ul":
            lines += [f"- {item}" for item in block[1]] + [""]
        elif block[0] == "ol":
            lines += [f"{n}. {item}" for n, item in enumerate(block[1], 1)] + [""]
        elif block[0] == "fields":
            # One field a line, the way such headers are typed (Markdown renders them as one paragraph).
            lines += [f"{label}: {value}" for label, value in block[1]] + [""]
        else:
            raise ValueError(f"{block[0]} not supported in Markdown")
    path.write_text("\n".join(lines), encoding="utf-8")


def write_txt(path: Path, title: str, blocks: list[tuple]) -> None:
    lines = [title.upper(), ""]
    for block in blocks:
        if block[0] == "h":
            lines += [block[1], ""]
        elif block[0] == "p":
            lines += [" ".join(block[1]), ""]
        elif block[0] == "ul":
            lines += [f"* {item}" for item in block[1]] + [""]
        elif block[0] == "ol":
            lines += [f"{n}. {item}" for n, item in enumerate(block[1], 1)] + [""]
        elif block[0] == "fields":
            lines += [f"{label}: {value}" for label, value in block[1]] + [""]
        else:
            raise ValueError(f"{block[0]} not supported in text")
    path.write_text("\n".join(lines), encoding="utf-8")


def write_html(path: Path, title: str, blocks: list[tuple]) -> None:
    body = [f"<h1>{escape(title)}</h1>"]
    for block in blocks:
        if block[0] == "h":
            body.append(f"<h2>{escape(block[1])}</h2>")
        elif block[0] == "p":
            body.append(f"<p>{escape(' '.join(block[1]))}</p>")
        elif block[0] in ("ul", "ol"):
            items = "\n".join(f"  <li>{escape(i)}</li>" for i in block[1])
            body.append(f"<{block[0]}>\n{items}\n</{block[0]}>")
        elif block[0] == "fields":
            body.append("<p>" + "<br>\n".join(f"{escape(k)}: {escape(v)}" for k, v in block[1]) + "</p>")
        elif block[0] == "table":
            head = "".join(f"<th>{escape(h)}</th>" for h in block[1])
            rows = "\n".join("  <tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in block[2])
            body.append(f"<table>\n  <tr>{head}</tr>\n{rows}\n</table>")
        else:
            raise ValueError(f"{block[0]} not supported in HTML")
    page_head = f'<head><meta charset="utf-8"><title>{escape(title)}</title></head>'
    page = (f'<!DOCTYPE html>\n<html lang="en">\n{page_head}\n'
            "<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")
    path.write_text(page, encoding="utf-8")


def write_docx(path: Path, title: str, blocks: list[tuple]) -> None:
    import datetime

    import docx

    document = docx.Document()
    when = datetime.datetime(2024, 10, 1)
    props = document.core_properties
    props.author = props.last_modified_by = INSTITUTE
    props.created = props.modified = when
    props.revision = 1
    document.add_heading(title, level=1)
    for block in blocks:
        if block[0] == "h":
            document.add_heading(block[1], level=2)
        elif block[0] == "p":
            document.add_paragraph(" ".join(block[1]))
        elif block[0] in ("ul", "ol"):
            style = "List Bullet" if block[0] == "ul" else "List Number"
            for item in block[1]:
                document.add_paragraph(item, style=style)
        elif block[0] == "fields":
            for label, value in block[1]:
                document.add_paragraph(f"{label}: {value}")
        elif block[0] == "table":
            header, rows = block[1], block[2]
            table = document.add_table(rows=1 + len(rows), cols=len(header))
            table.style = "Table Grid"
            for r, cells in enumerate([header, *rows]):
                for c, text in enumerate(cells):
                    table.cell(r, c).text = text
        else:
            raise ValueError(f"{block[0]} not supported in docx")
    buffer = io.BytesIO()
    document.save(buffer)
    path.write_bytes(_sample_corpus_module()._fixed_zip_dates(buffer.getvalue()))


def write_pdf(path: Path, title: str, blocks: list[tuple]) -> None:
    from reportlab import rl_config

    # Invariant mode drops the creation date and random document id from the file.
    rl_config.invariant = 1
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import ListFlowable, ListItem, Paragraph, SimpleDocTemplate

    styles = getSampleStyleSheet()
    story = [Paragraph(escape(title), styles["Heading1"])]
    for block in blocks:
        if block[0] == "h":
            story.append(Paragraph(escape(block[1]), styles["Heading2"]))
        elif block[0] == "p":
            story.append(Paragraph(escape(" ".join(block[1])), styles["BodyText"]))
        elif block[0] in ("ul", "ol"):
            items = [ListItem(Paragraph(escape(i), styles["BodyText"])) for i in block[1]]
            story.append(ListFlowable(items, bulletType="bullet" if block[0] == "ul" else "1"))
        elif block[0] == "fields":
            story += [Paragraph(escape(f"{k}: {v}"), styles["BodyText"]) for k, v in block[1]]
        else:
            raise ValueError(f"{block[0]} not supported in PDF")
    SimpleDocTemplate(str(path), pagesize=A4, title=title, author=INSTITUTE).build(story)


WRITERS = {".md": write_md, ".txt": write_txt, ".html": write_html, ".docx": write_docx, ".pdf": write_pdf}


# ---------------------------------------------------------------------------------------------
# Questions. Distractors are entities of the answer's type that the fact table does not make
# correct; the correct index is balanced within each kind.

KIND_ORDER = ["recall", "rephrase", "reversal", "multihop", "syllogism", "aggregation", "comparison_reversal"]

# relation: (question in the stated direction, question backwards, subject pool, object pool)
DIRECT_FORMS = {
    "based_at": ("At which station is the {s} project based?", "Which project is based at the {o} station?",
                 PROJECTS, STATIONS),
    "led_by": ("Who leads the {s} project?", "Which project does {o} lead?", PROJECTS, PEOPLE),
    "funded_by": ("Which organisation funds the {s} project?", "Which project gets its money from the {o}?",
                  PROJECTS, FUNDERS),
    "used_by": ("Which project uses the {s} instrument?", "Which instrument does the {o} project use?",
                INSTRUMENTS, PROJECTS),
    "is_a": ("Which series does the {s} instrument belong to?", "Which instrument is part of the {o} series?",
             INSTRUMENTS, SERIES),
    "calibrated": ("How often are {s} instruments calibrated?", "Which series of instruments is calibrated {o}?",
                   SERIES, INTERVALS),
    "permit": ("Which permit is needed to operate a {s} instrument?",
               "Which series can only be operated with a {o} permit?", SERIES, PERMITS),
}
# The facts asked directly (recall, rephrase and reversal ask the same 16 facts), chosen to cover
# every way of wording: table rows, field lines, pronoun subjects, passives, subordinate clauses.
# Within a relation the objects differ, so no two reversal questions read the same.
DIRECT_FACTS = [
    ("Korrimat", "based_at"), ("Vessapine", "based_at"), ("Naquesh", "based_at"),
    ("Korrimat", "led_by"), ("Drobbelin", "led_by"), ("Filtarro", "led_by"),
    ("Vessapine", "funded_by"), ("Gaspenoth", "funded_by"), ("Filtarro", "funded_by"),
    ("Norrapel", "used_by"), ("Ulcarro", "used_by"),
    ("Sibbeth", "is_a"), ("Hessiver", "is_a"), ("Norrapel", "is_a"),
    ("Throdd", "calibrated"), ("Vantrel", "permit"),
]
MULTIHOP = {  # second relation (from the project): question
    "based_at": "At which station is the project that uses the {i} instrument based?",
    "led_by": "Who leads the project that uses the {i} instrument?",
    "funded_by": "Which organisation funds the project that uses the {i} instrument?",
}
N_MULTIHOP = 14


@dataclass
class Draft:
    kind: str
    question: str
    answer: str
    distractors: list[str]
    sources: list[str]
    style: str = "question"


def pick(rng: random.Random, pool: list[str], exclude: set[str], n: int = 3) -> list[str]:
    return rng.sample([x for x in pool if x not in exclude], n)


def direct_drafts(facts: list[Fact], rng: random.Random) -> list[Draft]:
    """The same facts three ways: recall (completed as the document words it), rephrase (asked as a
    question in the stated direction) and reversal (asked backwards)."""
    recall, rephrase, reversal = [], [], []
    for subject, relation in DIRECT_FACTS:
        f = fact(facts, subject, relation)
        forward, backward, subjects, objects = DIRECT_FORMS[relation]
        distractors = pick(rng, objects, {f.object})
        # The statement up to its object: a table row or field line, one sentence or two.
        prefix = f.statement[: f.statement.index(f.object)].rstrip()
        assert subject in prefix and prefix.split()[-1] not in ("a", "an"), prefix
        recall.append(Draft("recall", prefix, f.object, distractors, [f.document], style="cloze"))
        rephrase.append(Draft("rephrase", forward.format(s=subject), f.object, distractors, [f.document]))
        # Another subject is a valid distractor only if its stated object differs.
        same_object = {g.subject for g in facts if g.relation == relation and g.object == f.object}
        reversal.append(Draft("reversal", backward.format(o=f.object), subject,
                              pick(rng, subjects, same_object), [f.document]))
    return recall + rephrase + reversal


def multihop_drafts(facts: list[Fact], rng: random.Random) -> list[Draft]:
    """Instrument to project (used_by), then project to station, lead or funder, from two documents."""
    pools = {"based_at": STATIONS, "led_by": PEOPLE, "funded_by": FUNDERS}
    chains = []
    for instrument in INSTRUMENTS:
        first = fact(facts, instrument, "used_by")
        for relation in MULTIHOP:
            second = fact(facts, first.object, relation)
            if first.document != second.document:
                chains.append((instrument, relation, first, second))
    chosen = sorted(rng.sample(range(len(chains)), N_MULTIHOP))
    drafts = []
    for instrument, relation, first, second in (chains[i] for i in chosen):
        drafts.append(Draft("multihop", MULTIHOP[relation].format(i=instrument), second.object,
                            pick(rng, pools[relation], {second.object}), [first.document, second.document]))
    return drafts


def syllogism_drafts(facts: list[Fact], rng: random.Random) -> list[Draft]:
    """Instrument is a series member (one document); every member of the series has the property (another)."""
    drafts = []
    for instrument in INSTRUMENTS:
        member = fact(facts, instrument, "is_a")
        for relation, question, pool in (
            ("calibrated", f"How often is the {instrument} instrument calibrated?", INTERVALS),
            ("permit", f"Which permit does someone need to operate the {instrument} instrument?", PERMITS),
        ):
            rule = fact(facts, member.object, relation)
            assert member.document != rule.document, (member, rule)
            drafts.append(Draft("syllogism", question, rule.object, pick(rng, pool, {rule.object}),
                                [member.document, rule.document]))
    return drafts


def set_choice(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def aggregation_drafts(facts: list[Fact], rng: random.Random) -> list[Draft]:
    """Lists (every member named, distractors sharing all but one member) and counts, gathered from
    several documents."""
    def members(relation: str, obj: str) -> list[Fact]:
        return [f for f in facts if f.relation == relation and f.object == obj]

    def every_two_weeks() -> list[list[Fact]]:
        series = [s for s, interval in SERIES_INTERVAL.items() if interval == "every two weeks"]
        return [[f, fact(facts, s, "calibrated")] for s in series for f in members("is_a", s)]

    lists = [  # (question, member facts (their subjects are the answer), universe)
        ("Which projects are funded by the Harnesk Trust?", members("funded_by", "Harnesk Trust"), PROJECTS),
        ("Which projects are funded by the Voluvant Foundation?", members("funded_by", "Voluvant Foundation"),
         PROJECTS),
        ("Which projects are run from the Brackuth station?", members("based_at", "Brackuth"), PROJECTS),
        ("Which projects are run from the Tivvaro station?", members("based_at", "Tivvaro"), PROJECTS),
        ("Which instruments belong to the Vantrel series?", members("is_a", "Vantrel"), INSTRUMENTS),
        ("Which instruments belong to the Okkumar series?", members("is_a", "Okkumar"), INSTRUMENTS),
        ("Which instruments belong to the Lisperane series?", members("is_a", "Lisperane"), INSTRUMENTS),
        ("Which instruments does the Korrimat project use?", members("used_by", "Korrimat"), INSTRUMENTS),
        ("Which instruments does the Vessapine project use?", members("used_by", "Vessapine"), INSTRUMENTS),
    ]
    counts = [
        ("How many projects does the Harnesk Trust fund?", members("funded_by", "Harnesk Trust")),
        ("How many projects does the Dassimore Fund pay for?", members("funded_by", "Dassimore Fund")),
        ("How many projects are run from the Brackuth station?", members("based_at", "Brackuth")),
        ("How many instruments belong to the Vantrel series?", members("is_a", "Vantrel")),
        ("How many instruments belong to the Throdd series?", members("is_a", "Throdd")),
    ]
    drafts = []
    for question, group, universe in lists:
        answer = [m.subject for m in group]
        others = [x for x in universe if x not in answer]
        distractors: list[str] = []
        while len(distractors) < 3:
            # Two distractors swap one member of the answer for another; the third shares none or one.
            if len(distractors) < 2:
                chosen = rng.sample(answer, len(answer) - 1) + [rng.choice(others)]
            else:
                chosen = rng.sample(others, len(answer))
            chosen.sort(key=universe.index)
            text = set_choice(chosen)
            if text not in distractors:
                distractors.append(text)
        drafts.append(Draft("aggregation", question, set_choice(answer), distractors,
                            sorted({m.document for m in group})))
    question = "Which instruments must be calibrated every two weeks?"
    group = every_two_weeks()
    answer = [pair[0].subject for pair in group]
    others = [x for x in INSTRUMENTS if x not in answer]
    distractors = []
    while len(distractors) < 3:
        chosen = rng.sample(answer, len(answer) - 1) + [rng.choice(others)]
        chosen.sort(key=INSTRUMENTS.index)
        if set_choice(chosen) not in distractors:
            distractors.append(set_choice(chosen))
    drafts.append(Draft("aggregation", question, set_choice(answer), distractors,
                        sorted({f.document for pair in group for f in pair})))
    for question, group in counts:
        answer = COUNTS[len(group) - 1]
        drafts.append(Draft("aggregation", question, answer, [c for c in COUNTS if c != answer],
                            sorted({m.document for m in group})))
    return drafts


def comparison_drafts(facts: list[Fact], rng: random.Random) -> list[Draft]:
    """Each comparison asked with the opposite comparative: half as questions, half as cloze."""
    drafts = []
    for i, (relation, winner, loser) in enumerate(COMPARISONS):
        noun, _, reverse = COMPARATIVES[relation]
        stated = fact(facts, winner, relation)
        pool = NOUN_POOL[noun]
        if i % 2 == 0:
            # Given the winner, ask for the loser with the opposite comparative.
            exclude = {loser} if len(pool) <= 4 else {loser, winner}
            drafts.append(Draft("comparison_reversal", f"Which {noun} {reverse} the {winner} {noun}?",
                                loser, pick(rng, pool, exclude), [stated.document]))
        else:
            # Given the loser, complete the reversed sentence with the winner.
            exclude = {winner} if len(pool) <= 4 else {winner, loser}
            drafts.append(Draft("comparison_reversal", f"The {loser} {noun} {reverse} the", f"{winner} {noun}",
                                [f"{x} {noun}" for x in pick(rng, pool, exclude)], [stated.document],
                                style="cloze"))
    return drafts


def build_questions(facts: list[Fact]) -> list[dict]:
    rng = random.Random(SEED)
    drafts = (direct_drafts(facts, rng) + multihop_drafts(facts, rng) + syllogism_drafts(facts, rng)
              + aggregation_drafts(facts, rng) + comparison_drafts(facts, rng))
    questions = []
    for kind in KIND_ORDER:
        of_kind = [d for d in drafts if d.kind == kind]
        positions = [i % 4 for i in range(len(of_kind))]
        rng.shuffle(positions)
        for n, (draft, position) in enumerate(zip(of_kind, positions), 1):
            choices = draft.distractors[:]
            rng.shuffle(choices)
            choices.insert(position, draft.answer)
            assert len(choices) == 4 and len(set(choices)) == 4, draft
            questions.append({"id": f"{kind}-{n:02d}", "question": draft.question, "style": draft.style,
                              "choices": choices, "answer": position, "kind": kind, "sources": draft.sources})
    return questions


# ---------------------------------------------------------------------------------------------
# README

README = """# Development corpus: the Ondravel Institute

A second fictional corpus beside `sample_corpus/` (the demo), for developing and measuring
ingest, augmentation and training on text written the way real documents are. Where the sample
corpus states one fact per short template sentence, this one writes flowing prose: pronoun
subjects that point back to the sentence before ("... slow rivers. It is run from the Brackuth
station"), passive voice, subordinate and relative clauses ("Because Gaspenoth is funded by the
Dassimore Fund, ..."), facts split over two sentences, headings, bulleted and numbered lists,
form-like field lines (`Project: Drobbelin` / `Lead: ...`), and tables in a DOCX and an HTML file.

The world differs from the sample's: a research institute with field stations, projects,
principal investigators, funding bodies, instruments, instrument series and permits. Every proper
name is an invented word, so no pretrained model can know the answers beforehand.

Made by `python benchmarks/corpora/make_ondravel.py` (python-docx and reportlab, from the `test`
extra), which writes everything here from one fact table with a fixed seed; rerunning it gives the
same bytes (`tests/test_dev_corpus.py` checks). Edit the script, not its outputs.

- `docs/`: the folder to ingest, {n_docs} documents:
  {formats_count}. Tables: `people.docx` (Project / Principal investigator / Extension) and
  `instruments.html` (Instrument / Series / Room); field lines in `meeting_minutes.txt`,
  `permits.txt`, `lab_handbook.md` and `safety_rules.docx`; numbered lists in
  `meeting_minutes.txt`, `lab_handbook.md` and `calibration_schedule.pdf`. About 2,400 SmolLM2
  tokens of sentences, so the whole corpus fits in the default model's context for `icl`.
- `questions.jsonl`: {n_questions} four-way multiple-choice questions in the design's schema,
  the correct index balanced within each kind:
  {per_kind}.
  Distractors are entities of the answer's type that the fact table does not make correct;
  recall questions and half the comparison questions are `"cloze"`, the rest `"question"`.
- `facts.jsonl`: the ground truth, one fact a line: `subject`, `relation`, `object`, `statement`
  (the text that states it, exactly as the document has it: one sentence or two, a table row as
  design.md reads it, or field lines joined by a space), `reversed_statement` (the same fact the
  other way round, in no document), `document`.

Each fact is stated once, in one direction (subject before object), in one document:

| kind | what it asks | example |
|---|---|---|
| `recall` | a fact completed in the document's own words (cloze; for a fact over two sentences the prefix holds both) | {ex_recall} |
| `rephrase` | the same facts asked as questions, in the stated direction | {ex_rephrase} |
| `reversal` | the same facts asked backwards | {ex_reversal} |
| `multihop` | instrument to project, then project to station, lead or funder, from two documents | {ex_multihop} |
| `syllogism` | instrument to series (one document), series to calibration interval or permit (another) | {ex_syllogism} |
| `aggregation` | a list (gathered from several documents; distractors share all but one member) or a count | {ex_aggregation} |
| `comparison_reversal` | a comparison asked with the opposite comparative ("larger budget" asked as "smaller") | {ex_comparison} |

Never train on `questions.jsonl`; it is for evaluation only.

## Running adaptdocs on it

```
adaptdocs ingest benchmarks/corpora/ondravel/docs -w .adaptdocs-ondravel
adaptdocs compare --questions benchmarks/corpora/ondravel/questions.jsonl -w .adaptdocs-ondravel
adaptdocs status -w .adaptdocs-ondravel
```

Ingest `docs/`, not this folder, which holds the answers. `tests/test_dev_corpus.py` checks
that every recall question completes a sentence that ingest really produces; the ones ingest
loses today are listed there (`KNOWN_INGEST_LOSSES`) and kept, since they measure that loss.

## Ground truth ({n_facts} facts)

| subject | relation | object | document | statement |
|---|---|---|---|---|
{fact_rows}
"""


def readme_text(facts: list[Fact], documents: dict, questions: list[dict]) -> str:
    def example(kind: str) -> str:
        q = next(q for q in questions if q["kind"] == kind)
        return f"{q['question']} → {q['choices'][q['answer']]}"

    by_format: dict[str, int] = {}
    for name in documents:
        by_format[Path(name).suffix] = by_format.get(Path(name).suffix, 0) + 1
    per_kind = {k: sum(q["kind"] == k for q in questions) for k in KIND_ORDER}
    return README.format(
        n_docs=len(documents), formats_count=", ".join(f"{n} {s}" for s, n in sorted(by_format.items())),
        n_questions=len(questions), per_kind=", ".join(f"{n} {k}" for k, n in per_kind.items()),
        n_facts=len(facts),
        ex_recall=example("recall"), ex_rephrase=example("rephrase"), ex_reversal=example("reversal"),
        ex_multihop=example("multihop"), ex_syllogism=example("syllogism"),
        ex_aggregation=example("aggregation"), ex_comparison=example("comparison_reversal"),
        fact_rows="\n".join(f"| {f.subject} | {f.relation} | {f.object} | {f.document} | {f.statement} |"
                            for f in facts),
    )


def main(out: Path = OUT) -> None:
    """Write docs/, facts.jsonl, questions.jsonl and README.md under `out`."""
    docs_dir = out / "docs"
    facts = build_facts()
    documents = build_documents(facts)
    texts = {name: rendered_text(blocks) for name, (_, blocks) in documents.items()}
    corpus = " ".join(texts.values())
    for f in facts:
        assert f.statement in texts[f.document], f"fact not written where it says: {f}"
        assert corpus.count(f.statement) == 1 and f.reversed_statement not in corpus, f
    docs_dir.mkdir(parents=True, exist_ok=True)
    for old in docs_dir.iterdir():
        old.unlink()
    for name, (title, blocks) in documents.items():
        WRITERS[Path(name).suffix](docs_dir / name, title, blocks)
    with open(out / "facts.jsonl", "w", encoding="utf-8") as handle:
        for f in facts:
            handle.write(json.dumps(f.as_dict()) + "\n")
    questions = build_questions(facts)
    with open(out / "questions.jsonl", "w", encoding="utf-8") as handle:
        for q in questions:
            handle.write(json.dumps(q) + "\n")
    (out / "README.md").write_text(readme_text(facts, documents, questions), encoding="utf-8")
    print(f"{len(documents)} documents in {docs_dir}, {len(facts)} facts, {len(questions)} questions")


if __name__ == "__main__":
    main()
