"""Write the sample corpus of the fictional company Thrennik, its question set and its fact table.

    python sample_corpus/make_corpus.py

Every proper name is an invented word, so no pretrained model can know the answers. Each fact is
stated once, in one direction, in one document; the questions are generated from the same fact
table, so documents and questions cannot drift apart. Outputs (all beside this script):

- docs/: 14 documents in five formats (.md, .html, .txt, .docx, .pdf); the folder to ingest.
- questions.jsonl: the question set (design.md schema), 16 questions of each of seven kinds.
- facts.jsonl: the ground truth, one fact a line.
- README.md: what the corpus is, and the fact table.

Binary outputs are byte-for-byte reproducible (fixed zip dates, reportlab invariant mode), so
rerunning the script does not make `adaptdocs ingest` see changed files.
"""

from __future__ import annotations

import io
import json
import random
import zipfile
from dataclasses import dataclass
from html import escape
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20250521
PER_KIND = 16

# ---------------------------------------------------------------------------------------------
# The world. Lists are in a fixed order; every relation below is keyed by these names.

TEAMS = ["Mubadra", "Trimbelo", "Quessary", "Dolvane", "Zarnoth", "Korbulo"]
OFFICES = ["Quorvale", "Bestomir", "Zanquil", "Ferrunda"]
PEOPLE = ["Yarvel Tumsk", "Tamsa Prunde", "Kelvio Drant", "Nimra Sesh", "Obrent Lusk", "Weddra Ploom"]
PURPOSES = ["data analysis", "deployment", "monitoring", "billing", "messaging", "testing"]
SERVERS = ["Tolvrik", "Wezzick", "Hobrel", "Saffrin", "Grelby", "Nuxom", "Pavrin", "Drellow"]
FAMILIES = ["Dunmoor", "Skelvy", "Vorbish", "Hulvo"]
BACKUPS = {"Dunmoor": "nightly", "Skelvy": "weekly", "Vorbish": "hourly", "Hulvo": "monthly"}
PATCH_DAYS = {"Dunmoor": "Monday", "Skelvy": "Tuesday", "Vorbish": "Thursday", "Hulvo": "Friday"}

# tool: (owner team, purpose, where it is stated). Each team owns two tools and each purpose has
# two tools, one of each pair in the catalogue table and the other elsewhere, so that the
# aggregation questions need more than one place.
TOOLS = {
    "Plosk": ("Mubadra", "data analysis", "table"),
    "Vendrak": ("Trimbelo", "deployment", "table"),
    "Oskrel": ("Quessary", "monitoring", "table"),
    "Lagle": ("Dolvane", "billing", "table"),
    "Kotrizo": ("Zarnoth", "messaging", "table"),
    "Brisnel": ("Korbulo", "testing", "table"),
    "Tavrune": ("Trimbelo", "data analysis", "list"),
    "Gulmesh": ("Quessary", "deployment", "list"),
    "Yimbrot": ("Mubadra", "testing", "list"),
    "Mirrowd": ("Korbulo", "monitoring", "onboarding.md"),
    "Snelby": ("Zarnoth", "billing", "meeting_notes_2024_05.txt"),
    "Quaddix": ("Dolvane", "messaging", "faq.md"),
}
TEAM_OFFICE = {
    "Mubadra": "Quorvale", "Trimbelo": "Bestomir", "Quessary": "Zanquil",
    "Dolvane": "Ferrunda", "Zarnoth": "Quorvale", "Korbulo": "Bestomir",
}
TEAM_LEAD = dict(zip(TEAMS, PEOPLE))
SERVER_CLASS = {
    "Tolvrik": "Krelvash", "Wezzick": "Krelvash", "Hobrel": "Yoppel", "Saffrin": "Ombrisk",
    "Grelby": "Ombrisk", "Nuxom": "Tazzle", "Pavrin": "Quimbast", "Drellow": "Quimbast",
}
CLASS_FAMILY = {
    "Krelvash": "Dunmoor", "Yoppel": "Dunmoor", "Ombrisk": "Skelvy", "Tazzle": "Vorbish", "Quimbast": "Hulvo",
}
CLASSES = list(CLASS_FAMILY)

# Comparisons: (relation, stated winner, stated loser). Pairs are disjoint within a relation, so
# nothing else in the corpus ranks a distractor against the subject.
COMPARISONS = [
    ("faster", "Oskrel", "Lagle"), ("faster", "Plosk", "Brisnel"),
    ("faster", "Vendrak", "Tavrune"), ("faster", "Gulmesh", "Yimbrot"),
    ("older", "Mirrowd", "Kotrizo"), ("older", "Snelby", "Quaddix"),
    ("older", "Brisnel", "Oskrel"), ("older", "Lagle", "Vendrak"),
    ("bigger", "Tolvrik", "Nuxom"), ("bigger", "Saffrin", "Drellow"), ("bigger", "Grelby", "Hobrel"),
    ("north", "Quorvale", "Bestomir"), ("north", "Zanquil", "Ferrunda"),
    ("larger", "Mubadra", "Dolvane"), ("larger", "Trimbelo", "Korbulo"), ("larger", "Quessary", "Zarnoth"),
]
# relation: (entity type, noun, stated phrase, reversed phrase)
COMPARATIVES = {
    "faster": ("tool", "tool", "is faster than", "is slower than"),
    "older": ("tool", "tool", "is older than", "is newer than"),
    "bigger": ("server", "server", "is bigger than", "is smaller than"),
    "north": ("office", "office", "is north of", "is south of"),
    "larger": ("team", "team", "is larger than", "is smaller than"),
}


CATALOGUE_HEADER = ["Tool", "Owner", "Purpose"]

# ---------------------------------------------------------------------------------------------
# Facts: one record per fact, with the sentence that states it and the document it is in.


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


def build_facts() -> list[Fact]:
    facts: list[Fact] = []

    def add(subject, relation, obj, statement, reversed_statement, document):
        facts.append(Fact(subject, relation, obj, statement, reversed_statement, document))

    for tool, (team, purpose, where) in TOOLS.items():
        doc = "catalogue.html" if where in ("table", "list") else where
        add(tool, "owned_by", team, f"The {tool} tool is owned by the {team} team.",
            f"The {team} team owns the {tool} tool.", doc)
        add(tool, "used_for", purpose, f"{tool} is used for {purpose}.",
            f"{purpose.capitalize()} is done with {tool}.", doc)
    for team, office in TEAM_OFFICE.items():
        add(team, "works_in", office, f"The {team} team works in the {office} office.",
            f"The {office} office is home to the {team} team.", "teams.md")
    for team, person in TEAM_LEAD.items():
        add(team, "led_by", person, f"The {team} team is led by {person}.",
            f"{person} leads the {team} team.", "org_chart.docx")
    for server, cls in SERVER_CLASS.items():
        add(server, "is_a", cls, f"{server} is {article(cls)} {cls} server.",
            f"One of the {cls} servers is {server}.", "infrastructure.pdf")
    for cls, family in CLASS_FAMILY.items():
        add(cls, "subclass_of", family, f"Every {cls} server is a {family} machine.",
            f"Some {family} machines are {cls} servers.", "glossary.txt")
    for family, often in BACKUPS.items():
        add(family, "backed_up", often, f"All {family} machines are backed up {often}.",
            f"Machines backed up {often} include all {family} machines.", "backup_policy.pdf")
    for family, day in PATCH_DAYS.items():
        add(family, "patched_on", day, f"{family} machines are patched every {day}.",
            f"Every {day}, the {family} machines are patched.", "patching_policy.docx")
    comparison_docs = {"faster": "postmortem_2024_03.md", "bigger": "infrastructure.pdf",
                       "north": "office_guide.txt", "larger": "teams.md"}
    older_docs = ["meeting_notes_2024_05.txt", "meeting_notes_2024_05.txt", "faq.md", "faq.md"]
    older_seen = 0
    for relation, winner, loser in COMPARISONS:
        _, noun, stated, reverse = COMPARATIVES[relation]
        if relation == "older":
            doc = older_docs[older_seen]
            older_seen += 1
        else:
            doc = comparison_docs[relation]
        add(winner, relation, loser, f"The {winner} {noun} {stated} the {loser} {noun}.",
            f"The {loser} {noun} {reverse} the {winner} {noun}.", doc)
    return facts


def article(word: str) -> str:
    return "an" if word[0].lower() in "aeiou" else "a"


def fact(facts: list[Fact], subject: str, relation: str) -> Fact:
    return next(f for f in facts if f.subject == subject and f.relation == relation)


# ---------------------------------------------------------------------------------------------
# Documents: each a title and a list of blocks ("p", sentences) | ("h", text) | ("ul", items) |
# ("table", header, rows). Fact sentences come from the fact table; the rest is ordinary prose
# that names no relation between the invented entities.


def build_documents(facts: list[Fact]) -> dict[str, tuple[str, list[tuple]]]:
    def says(*keys: tuple[str, str]) -> list[str]:
        return [fact(facts, s, r).statement for s, r in keys]

    def compare(relation: str, winner: str) -> str:
        return next(f.statement for f in facts if f.relation == relation and f.subject == winner)

    table_tools = [t for t, (_, _, where) in TOOLS.items() if where == "table"]
    list_tools = [t for t, (_, _, where) in TOOLS.items() if where == "list"]
    docs: dict[str, tuple[str, list[tuple]]] = {}

    docs["catalogue.html"] = ("Thrennik tool catalogue", [
        ("p", ["This catalogue lists the internal tools used at Thrennik.",
               "Ask the owning team before you change a tool."]),
        ("h", "Core tools"),
        ("table", CATALOGUE_HEADER, [[t, TOOLS[t][0], TOOLS[t][1]] for t in table_tools]),
        ("h", "Recently added tools"),
        ("ul", [s for t in list_tools for s in says((t, "owned_by"), (t, "used_for"))]),
        ("h", "Requesting access"),
        ("p", ["To use a tool, open an access ticket and name the tool in the title.",
               "Access is usually granted within two working days.",
               "Accounts that are not used for ninety days are closed automatically."]),
        ("p", ["Retired tools are not listed here.", "Their data is archived for seven years."]),
    ])
    docs["teams.md"] = ("Team directory", [
        ("p", ["Thrennik has six teams.", "Each team has its own room and its own weekly meeting.",
               "New staff join a team on their first day and meet its members over lunch.",
               "Teams share one calendar for holidays, so plan your leave early."]),
        *[block for team in TEAMS for block in (("h", f"{team} team"), ("p", says((team, "works_in"))))],
        ("h", "Team sizes"),
        ("p", [compare("larger", w) for r, w, _ in COMPARISONS if r == "larger"]),
    ])
    docs["org_chart.docx"] = ("Organisation chart", [
        ("p", ["This chart names the person who leads each team.",
               "Team leads approve holidays and hiring for their team."]),
        ("ul", says(*[(team, "led_by") for team in TEAMS])),
        ("p", ["The chart is updated every quarter.",
               "Above the team leads sits the board, which meets twice a year.",
               "If a team lead is away, the most senior member of the team stands in.",
               "Questions about the chart go to the people office by email."]),
    ])
    docs["onboarding.md"] = ("Onboarding guide", [
        ("p", ["Welcome to Thrennik.", "This guide covers your first week."]),
        ("h", "Day one"),
        ("ul", ["Collect your badge from the front desk.", "Set up your laptop and your password manager.",
                "Read the tool catalogue and the team directory."]),
        ("h", "Tools you will meet"),
        ("p", says(("Mirrowd", "owned_by"), ("Mirrowd", "used_for"))
         + ["You will get access to it on your second day."]),
        ("h", "Getting help"),
        ("p", ["Your team lead is your first contact.", "The FAQ answers most other questions.",
               "For anything about pay or contracts, write to the people office."]),
        ("h", "Your first week"),
        ("p", ["On day two you shadow a colleague and attend your team's weekly meeting.",
               "On day three you finish the security training and sign the security policy.",
               "By the end of the week you should have shipped one small change."]),
    ])
    docs["infrastructure.pdf"] = ("Server inventory", [
        ("p", ["This inventory lists the servers that Thrennik runs.",
               "The server class decides the rules for each server."]),
        ("h", "Servers and their classes"),
        ("p", says(*[(server, "is_a") for server in SERVERS])),
        ("p", ["Every server is watched around the clock.",
               "A server may only be renamed after a change ticket is approved."]),
        ("h", "Capacity"),
        ("p", [compare("bigger", w) for r, w, _ in COMPARISONS if r == "bigger"]),
    ])
    docs["glossary.txt"] = ("Glossary", [
        ("p", ["This glossary explains words used in Thrennik documents."]),
        ("h", "Server classes"),
        ("p", says(*[(cls, "subclass_of") for cls in CLASSES])),
        ("h", "Other terms"),
        ("p", ["A ticket is a request for work.", "A runbook is a list of steps for an incident.",
               "An incident is any event that stops a service or puts data at risk.",
               "A postmortem is a written review of an incident, without blame.",
               "A change window is a time when changes to servers are allowed.",
               "On call means being ready to answer pages outside office hours."]),
    ])
    docs["backup_policy.pdf"] = ("Backup policy", [
        ("p", ["This policy says how often each family of machines is backed up.",
               "Backups are kept for ninety days."]),
        ("p", says(*[(family, "backed_up") for family in FAMILIES])),
        ("p", ["A failed backup must be reported within one day.",
               "Restores are tested once a month on a spare machine.",
               "Backup copies are encrypted and stored in two places.",
               "Nobody may delete a backup before it expires."]),
    ])
    docs["patching_policy.docx"] = ("Patching policy", [
        ("p", ["Security patches are applied on a fixed day for each family of machines.",
               "Patching starts at six in the morning."]),
        ("ul", says(*[(family, "patched_on") for family in FAMILIES])),
        ("p", ["An urgent patch may be applied on any day.",
               "Before patching, the person on call checks that the last backup succeeded.",
               "After patching, each machine is restarted and its services are checked.",
               "Patch notes are posted in the operations channel."]),
    ])
    docs["postmortem_2024_03.md"] = ("Postmortem: slow reports in March", [
        ("h", "Summary"),
        ("p", ["On 12 March the weekly reports were six hours late.",
               "A queue filled up and nobody was paged.",
               "Customers noticed the delay before we did."]),
        ("h", "Timeline"),
        ("p", ["At two in the morning the queue began to grow.",
               "At eight the first customer wrote to support.",
               "At ten the queue was drained and the reports were sent."]),
        ("h", "What we learned"),
        ("p", [compare("faster", w) for r, w, _ in COMPARISONS if r == "faster"]),
        ("h", "Actions"),
        ("h", "Root cause"),
        ("p", ["A change to the report format doubled the size of each message.",
               "The queue was sized for the old format and filled in six hours.",
               "The alert on queue length had been switched off during an earlier test."]),
        ("ul", ["Add an alert on queue length.", "Review the paging rota every month.",
                "Test message size in every change to the report format."]),
    ])
    older = [(w, compare("older", w)) for r, w, _ in COMPARISONS if r == "older"]
    docs["meeting_notes_2024_05.txt"] = ("Meeting notes, 14 May 2024", [
        ("p", ["Attendees: all team leads.", "The budget for next year was discussed first.",
               "Costs for servers rose by a tenth this year, mostly because of storage.",
               "Everyone agreed to review unused accounts before the next meeting."]),
        ("h", "Tools"),
        ("p", says(("Snelby", "owned_by"), ("Snelby", "used_for")) + [s for _, s in older[:2]]),
        ("h", "Decisions"),
        ("p", ["The summer party will be in June.", "Every team will write down its goals for the autumn.",
               "Hiring is paused until the budget is approved.", "Next meeting in two weeks."]),
    ])
    docs["faq.md"] = ("Frequently asked questions", [
        ("h", "How do I get a new laptop?"),
        ("p", ["Open a ticket and your team lead approves it."]),
        ("h", "What is Quaddix?"),
        ("p", says(("Quaddix", "owned_by"), ("Quaddix", "used_for"))),
        ("h", "Why do some tools feel dated?"),
        ("p", [older[2][1], older[3][1], "Old tools are replaced slowly."]),
        ("h", "Can I work from home?"),
        ("p", ["Yes, up to two days a week.", "Tell your team lead which days you choose."]),
        ("h", "Where do I report a bug?"),
        ("p", ["Open a ticket and attach the steps to reproduce it.",
               "Urgent bugs can also be raised in the support channel."]),
    ])
    docs["office_guide.txt"] = ("Office guide", [
        ("p", ["Thrennik has four offices.", "Every office has a kitchen and quiet rooms."]),
        ("h", "Where the offices are"),
        ("p", [compare("north", w) for r, w, _ in COMPARISONS if r == "north"]),
        ("h", "Visiting another office"),
        ("p", ["Book a desk one day ahead.", "Bring your badge.",
               "Travel between offices is paid by the company when it is for work.",
               "Trains are preferred over flights for short trips."]),
        ("h", "Opening hours"),
        ("p", ["Offices open at seven in the morning and close at eight in the evening.",
               "They are closed on public holidays."]),
    ])
    docs["security_policy.html"] = ("Security policy", [
        ("p", ["Everyone at Thrennik must follow this policy."]),
        ("h", "Rules"),
        ("ul", ["Lock your screen when you leave your desk.", "Never share your password.",
                "Report lost badges at once.", "Use the password manager for every account."]),
        ("h", "Data"),
        ("p", ["Customer data stays on company machines.", "Never copy customer data to a personal device.",
               "Delete test data that contains real names."]),
        ("p", ["Breaking these rules can lead to lost access.",
               "Report any suspected breach to the security desk at once."]),
    ])
    docs["expenses_policy.pdf"] = ("Expenses policy", [
        ("p", ["This policy explains which costs Thrennik pays back and how to claim them."]),
        ("h", "What you can claim"),
        ("ul", ["Train tickets and hotel nights for work trips.", "Meals on work trips, up to a daily limit.",
                "Books and courses that your team lead has approved."]),
        ("h", "How to claim"),
        ("p", ["Claim within thirty days of paying.", "Attach a photo of every receipt.",
               "Claims are paid with the next monthly salary.",
               "Claims without receipts are returned to you with a short note."]),
        ("h", "What you cannot claim"),
        ("p", ["Fines, personal travel and gifts are never paid back.",
               "If you are unsure, ask before you spend."]),
    ])
    return docs


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
        elif block[0] == "ul":
            body.append("<ul>\n" + "\n".join(f"  <li>{escape(i)}</li>" for i in block[1]) + "\n</ul>")
        elif block[0] == "table":
            head = "".join(f"<th>{escape(h)}</th>" for h in block[1])
            rows = "\n".join("  <tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in block[2])
            body.append(f"<table>\n  <tr>{head}</tr>\n{rows}\n</table>")
    page_head = f'<head><meta charset="utf-8"><title>{escape(title)}</title></head>'
    page = (f'<!DOCTYPE html>\n<html lang="en">\n{page_head}\n'
            "<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")
    path.write_text(page, encoding="utf-8")


def write_docx(path: Path, title: str, blocks: list[tuple]) -> None:
    import datetime

    import docx

    document = docx.Document()
    document.core_properties.author = "Thrennik"
    document.core_properties.created = datetime.datetime(2024, 5, 1)
    document.core_properties.modified = datetime.datetime(2024, 5, 1)
    document.core_properties.last_modified_by = "Thrennik"
    document.core_properties.revision = 1
    document.add_heading(title, level=1)
    for block in blocks:
        if block[0] == "h":
            document.add_heading(block[1], level=2)
        elif block[0] == "p":
            document.add_paragraph(" ".join(block[1]))
        elif block[0] == "ul":
            for item in block[1]:
                document.add_paragraph(item, style="List Bullet")
        else:
            raise ValueError(f"{block[0]} not supported in docx")
    buffer = io.BytesIO()
    document.save(buffer)
    path.write_bytes(_fixed_zip_dates(buffer.getvalue()))


def _fixed_zip_dates(data: bytes) -> bytes:
    """Rewrite a zip with fixed entry dates, so the same content gives the same bytes."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2024, 5, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(fixed, source.read(info.filename))
    return out.getvalue()


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
        elif block[0] == "ul":
            items = [ListItem(Paragraph(escape(i), styles["BodyText"])) for i in block[1]]
            story.append(ListFlowable(items, bulletType="bullet"))
        else:
            raise ValueError(f"{block[0]} not supported in PDF")
    SimpleDocTemplate(str(path), pagesize=A4, title=title, author="Thrennik").build(story)


WRITERS = {".md": write_md, ".txt": write_txt, ".html": write_html, ".docx": write_docx, ".pdf": write_pdf}


# ---------------------------------------------------------------------------------------------
# Questions. Distractors are entities of the answer's type that the corpus does not make correct;
# the correct index is balanced within each kind.

KIND_ORDER = ["recall", "rephrase", "reversal", "multihop", "syllogism", "aggregation", "comparison_reversal"]


@dataclass
class Draft:
    kind: str
    question: str
    answer: str
    distractors: list[str]
    sources: list[str]
    style: str = "question"


def pick(rng: random.Random, pool: list[str], exclude: set[str], n: int = 3) -> list[str]:
    candidates = [x for x in pool if x not in exclude]
    return rng.sample(candidates, n)


def direct_drafts(facts: list[Fact], rng: random.Random) -> tuple[list[Draft], list[Draft], list[Draft]]:
    """The same facts three ways: recall (completed as the document words it), rephrase (asked as a
    question in the stated direction) and reversal (asked backwards)."""
    # relation: (forward question, backward question, subject pool, object pool)
    forms = {
        "owned_by": ("Which team owns the {s} tool?", "Which tool belongs to the {o} team?", list(TOOLS), TEAMS),
        "used_for": ("What is the {s} tool used for?", "Which tool is used for {o}?", list(TOOLS), PURPOSES),
        "works_in": ("In which office does the {s} team work?", "Which team is based in the {o} office?",
                     TEAMS, OFFICES),
        "led_by": ("Who leads the {s} team?", "Which team does {o} lead?", TEAMS, PEOPLE),
        "is_a": ("Which class of server is {s}?", "Which server belongs to the {o} class?", SERVERS, CLASSES),
    }
    quota = {"owned_by": 4, "used_for": 3, "works_in": 3, "led_by": 3, "is_a": 3}
    recall, rephrase, reversal = [], [], []
    for relation, count in quota.items():
        forward, backward, subjects, objects = forms[relation]
        related = [f for f in facts if f.relation == relation]
        # Distinct objects, so that no two reversal questions read the same.
        chosen: dict[str, Fact] = {}
        for f in rng.sample(related, len(related)):
            chosen.setdefault(f.object, f)
        for f in list(chosen.values())[:count]:
            distractors = pick(rng, objects, {f.object})
            recall.append(stated_completion(f, distractors))
            rephrase.append(Draft("rephrase", forward.format(s=f.subject), f.object, distractors, [f.document]))
            # Another subject is a valid distractor only if its stated object differs.
            same_object = {g.subject for g in related if g.object == f.object}
            reversal.append(Draft("reversal", backward.format(o=f.object), f.subject,
                                  pick(rng, subjects, same_object), [f.document]))
    return recall, rephrase, reversal


def stated_completion(f: Fact, distractors: list[str]) -> Draft:
    """A cloze recall question: the fact's own wording up to its object, which the choice completes.

    A catalogue-table fact is worded as its row, the way the design contract reads table rows
    ("Tool: Plosk. Owner: Mubadra. Purpose: data analysis.").
    """
    if f.relation in ("owned_by", "used_for") and TOOLS[f.subject][2] == "table":
        team, purpose, _ = TOOLS[f.subject]
        cells = dict(zip(CATALOGUE_HEADER, (f.subject, team, purpose)))
        row = " ".join(f"{header}: {cell}." for header, cell in cells.items())
        prefix = row[: row.index(f.object, len(f"{CATALOGUE_HEADER[0]}: {f.subject}."))].rstrip()
        return Draft("recall", prefix, f.object, distractors, [f.document], style="cloze")
    if f.relation == "is_a":
        # "Grelby is an Ombrisk server": the article goes with the choice, or it would give the answer away.
        prefix = f.statement[: f.statement.index(f" {article(f.object)} {f.object}")]
        return Draft("recall", prefix, f"{article(f.object)} {f.object}",
                     [f"{article(d)} {d}" for d in distractors], [f.document], style="cloze")
    prefix = f.statement[: f.statement.index(f.object)].rstrip()
    return Draft("recall", prefix, f.object, distractors, [f.document], style="cloze")


def multihop_drafts(facts: list[Fact], rng: random.Random) -> list[Draft]:
    drafts = []
    tools = list(TOOLS)
    for i, tool in enumerate(rng.sample(tools, len(tools))[:PER_KIND // 2] + rng.sample(tools, PER_KIND // 2)):
        owned = fact(facts, tool, "owned_by")
        team = owned.object
        if i < PER_KIND // 2:
            second = fact(facts, team, "works_in")
            drafts.append(Draft("multihop", f"In which office does the team that owns the {tool} tool work?",
                                second.object, pick(rng, OFFICES, {second.object}), [owned.document, second.document]))
        else:
            second = fact(facts, team, "led_by")
            drafts.append(Draft("multihop", f"Who leads the team that owns the {tool} tool?",
                                second.object, pick(rng, PEOPLE, {second.object}), [owned.document, second.document]))
    return drafts


def syllogism_drafts(facts: list[Fact], rng: random.Random) -> list[Draft]:
    drafts = []
    for server in SERVERS:
        first = fact(facts, server, "is_a")
        second = fact(facts, first.object, "subclass_of")
        family = second.object
        backed = fact(facts, family, "backed_up")
        patched = fact(facts, family, "patched_on")
        sources = [first.document, second.document]
        drafts.append(Draft("syllogism", f"How often is the {server} server backed up?", backed.object,
                            pick(rng, list(BACKUPS.values()), {backed.object}), sources + [backed.document]))
        drafts.append(Draft("syllogism", f"On which day of the week is the {server} server patched?", patched.object,
                            pick(rng, list(PATCH_DAYS.values()), {patched.object}), sources + [patched.document]))
    return drafts


def set_choice(items: list[str]) -> str:
    return " and ".join(items)


def aggregation_drafts(facts: list[Fact], rng: random.Random) -> list[Draft]:
    """Questions whose answer is a set of two; distractors are other sets of the same type,
    including sets sharing one member with the answer, so that the whole set must be known."""
    groups = []  # (question, members in corpus order, universe, sources)
    for purpose in PURPOSES:
        members = [f for f in facts if f.relation == "used_for" and f.object == purpose]
        groups.append((f"Which tools are used for {purpose}?", members, list(TOOLS)))
    for team in TEAMS:
        members = [f for f in facts if f.relation == "owned_by" and f.object == team]
        groups.append((f"Which tools does the {team} team own?", members, list(TOOLS)))
    for office in OFFICES:
        members = [f for f in facts if f.relation == "works_in" and f.object == office]
        if len(members) == 2:
            groups.append((f"Which teams are based in the {office} office?", members, TEAMS))
    for cls in CLASSES:
        members = [f for f in facts if f.relation == "is_a" and f.object == cls]
        if len(members) == 2:
            groups.append((f"Which servers are {cls} servers?", members, SERVERS))
    drafts = []
    for question, members, universe in rng.sample(groups, PER_KIND):
        answer = [m.subject for m in members]
        others = [x for x in universe if x not in answer]
        distractors: list[str] = []
        while len(distractors) < 3:
            if len(distractors) < 2:
                pair = [rng.choice(answer), rng.choice(others)]
            else:
                pair = rng.sample(others, 2)
            pair.sort(key=universe.index)
            text = set_choice(pair)
            if text not in distractors:
                distractors.append(text)
        sources = sorted({m.document for m in members})
        drafts.append(Draft("aggregation", question, set_choice(answer), distractors, sources))
    return drafts


def comparison_drafts(facts: list[Fact], rng: random.Random) -> list[Draft]:
    pools = {"tool": list(TOOLS), "server": SERVERS, "office": OFFICES, "team": TEAMS}
    drafts = []
    for i, (relation, winner, loser) in enumerate(COMPARISONS):
        kind, noun, _, reverse = COMPARATIVES[relation]
        stated = next(f for f in facts if f.relation == relation and f.subject == winner)
        pool = pools[kind]
        if i % 2 == 0:
            # Given the winner, ask for the loser with the opposite comparative.
            exclude = {loser} if len(pool) <= 4 else {loser, winner}
            drafts.append(Draft("comparison_reversal", f"Which {noun} {reverse} the {winner} {noun}?",
                                loser, pick(rng, pool, exclude), [stated.document]))
        else:
            # Given the loser, complete the reversed sentence with the winner.
            exclude = {winner} if len(pool) <= 4 else {winner, loser}
            drafts.append(Draft("comparison_reversal", f"The {loser} {noun} {reverse} the",
                                f"{winner} {noun}", [f"{x} {noun}" for x in pick(rng, pool, exclude)],
                                [stated.document], style="cloze"))
    return drafts


def build_questions(facts: list[Fact]) -> list[dict]:
    rng = random.Random(SEED)
    recall, rephrase, reversal = direct_drafts(facts, rng)
    drafts = (recall + rephrase + reversal + multihop_drafts(facts, rng) + syllogism_drafts(facts, rng)
              + aggregation_drafts(facts, rng) + comparison_drafts(facts, rng))
    questions = []
    for kind in KIND_ORDER:
        of_kind = [d for d in drafts if d.kind == kind]
        assert len(of_kind) == PER_KIND, (kind, len(of_kind))
        positions = [i % 4 for i in range(PER_KIND)]
        rng.shuffle(positions)
        for n, (draft, position) in enumerate(zip(of_kind, positions), 1):
            choices = draft.distractors[:]
            rng.shuffle(choices)
            choices.insert(position, draft.answer)
            assert len(set(choices)) == 4, draft
            questions.append({"id": f"{kind}-{n:02d}", "question": draft.question, "style": draft.style,
                              "choices": choices, "answer": position, "kind": kind, "sources": draft.sources})
    return questions


README = """# Sample corpus: Thrennik

A small, fictional company's internal documents, with a question set that measures how well a
model has learned them. Every proper name (company, tools, teams, people, offices, servers, server
classes and machine families) is an invented word, so no pretrained model can know the answers
beforehand: whatever a model gets right beyond chance, it learned from these documents.

Made by `python sample_corpus/make_corpus.py` (python-docx and reportlab, from the `test` extra),
which writes everything here from one fact table with a fixed seed; rerunning it gives the same
bytes. Edit the script, not its outputs.

- `docs/`: the folder to ingest (`adaptdocs ingest sample_corpus/docs`; not this folder, which
  holds the answers), {n_docs} documents in five formats ({formats}), about 2,400 SmolLM2
  tokens in all, so the whole corpus fits in the default model's context for `icl`. The
  catalogue (`catalogue.html`) holds a table (Tool / Owner / Purpose) and a bulleted list.
- `questions.jsonl`: {n_questions} four-way multiple-choice questions in the design's schema,
  {per_kind} of each kind, the correct index balanced ({per_position} times each per kind).
  Distractors are entities of the answer's type from the corpus that the corpus does not make
  correct. Mostly `"style": "question"`; the recall questions and half the comparison questions
  are `"cloze"` (a sentence for the choice to complete).
- `facts.jsonl`: the ground truth, one fact a line: `subject`, `relation`, `object`, `statement`
  (the sentence as the document states it), `reversed_statement` (the same fact in the other
  direction, which appears in no document), `document`. Use it to check augmentations.

Each fact is stated once, in one direction, in one document; facts are scattered so that:

| kind | what it asks | example |
|---|---|---|
| `recall` | a fact completed in the words the document states it (for the catalogue table, its row): did the model learn it? | {ex_recall} |
| `rephrase` | the same facts asked as questions, in the stated direction | {ex_rephrase} |
| `reversal` | the same facts asked backwards | {ex_reversal} |
| `multihop` | two facts from two documents (tool to team in the catalogue, team to office or lead elsewhere) | {ex_multihop} |
| `syllogism` | server to class (`infrastructure.pdf`), class to family (`glossary.txt`), family to rule (`backup_policy.pdf`, `patching_policy.docx`) | {ex_syllogism} |
| `aggregation` | a set of two, gathered from several places; distractors share one member | {ex_aggregation} |
| `comparison_reversal` | a comparison asked with the opposite comparative ("faster" asked as "slower") | {ex_comparison} |

Never train on `questions.jsonl`; it is for evaluation only.

## Ground truth ({n_facts} facts)

Facts of the catalogue's table are written there as a row (Tool, Owner, Purpose); the statement
below is the same fact as a sentence.

| subject | relation | object | document | statement |
|---|---|---|---|---|
{fact_rows}
"""


def readme_text(facts: list[Fact], documents: dict, questions: list[dict]) -> str:
    def example(kind: str) -> str:
        q = next(q for q in questions if q.get("kind") == kind)
        return f"{q['question']} → {q['choices'][q['answer']]}"

    return README.format(
        n_docs=len(documents), formats=", ".join(sorted({Path(n).suffix for n in documents})),
        n_questions=len(questions), per_kind=PER_KIND, per_position=PER_KIND // 4, n_facts=len(facts),
        ex_recall=example("recall"), ex_rephrase=example("rephrase"), ex_reversal=example("reversal"), ex_multihop=example("multihop"),
        ex_syllogism=example("syllogism"), ex_aggregation=example("aggregation"),
        ex_comparison=example("comparison_reversal"),
        fact_rows="\n".join(f"| {f.subject} | {f.relation} | {f.object} | {f.document} | {f.statement} |"
                            for f in facts),
    )


def main(out: Path = HERE) -> None:
    """Write docs/, facts.jsonl and questions.jsonl under `out` (default: beside this script)."""
    docs_dir = out / "docs"
    facts = build_facts()
    documents = build_documents(facts)
    stated = {(name, s) for name, (_, blocks) in documents.items() for b in blocks
              if b[0] in ("p", "ul") for s in b[1]}
    table_rows = {t for t, (_, _, where) in TOOLS.items() if where == "table"}
    for f in facts:
        in_table = f.subject in table_rows and f.relation in ("owned_by", "used_for")
        assert in_table or (f.document, f.statement) in stated, f"fact not written: {f}"
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
