"""Implications written by rule (augment_closure.py): what facts say together, without the shared name."""

import json

from adaptdocs.augment import corpus_index
from adaptdocs.augment_closure import CLOSURE_TEMPLATE, implications
from adaptdocs.augment_filters import CorpusVocabulary
from adaptdocs.store import Sentence
from adaptdocs.templates import load_template


def implied_by(corpus: list[str]):
    """The implications of a one-document corpus."""
    from adaptdocs.exam_facts import FactIndex, read_facts

    sentences = [Sentence(f"s{i}", "d", "e", i, text) for i, text in enumerate(corpus)]
    vocabulary = CorpusVocabulary(corpus)
    index = FactIndex(read_facts(sentences, {"d": "doc.md"}, vocabulary))
    return implications(index, vocabulary, load_template(CLOSURE_TEMPLATE))


def implied(corpus: list[str]) -> dict[str, list[str]]:
    """Each implication's text → its source sentences."""
    return {i.text: i.sources for i in implied_by(corpus)}


def asked(corpus: list[str]) -> dict[str, str]:
    """Each rule question of the implications → its answer."""
    return {q: a for i in implied_by(corpus) for q, a in i.questions}


def test_what_every_member_of_a_class_has_is_said_of_each_member_through_classes_of_classes():
    corpus = ["Tolvrik is a Krelvash server.", "Every Krelvash server is a Dunmoor machine.",
              "All Dunmoor machines are backed up nightly.", "Dunmoor machines need a Gorsk permit.",
              "Instrument: Crellish. Series: Throdd.", "Throdd instruments contain a strong laser."]
    found = implied(corpus)
    assert found["The Tolvrik server is a Dunmoor machine."] == corpus[:2]
    assert found["The Tolvrik server is backed up nightly."] == corpus[:3]
    assert found["The Tolvrik server needs a Gorsk permit."] == [corpus[0], corpus[1], corpus[3]]
    # A record is a member when its key's kind is the class's kind.
    assert found["The Crellish instrument contains a strong laser."] == corpus[4:]
    assert not any(text.startswith(("Every", "All", "The machine")) for text in found)


def test_a_name_is_replaced_by_what_another_fact_says_of_it_only_when_that_fits_it_alone():
    corpus = ["The Snelby tool is owned by the Zarnoth team.", "The Zarnoth team works in the Quorvale office.",
              "The Zarnoth team is led by Obrent Lusk.", "Project: Korrimat. Principal investigator: Idrena Vaskell.",
              "The Telsamo instrument is used by the Korrimat project.",
              # Two tools of one team: "the tool that the Mubadra team owns" fits neither alone.
              "The Mubadra team owns the Plosk tool.", "The Mubadra team owns the Yimbrot tool.",
              "The Plosk tool is used for billing."]
    found = implied(corpus)
    assert "The team that the Snelby tool is owned by works in the Quorvale office." in found
    assert found["The team that the Snelby tool is owned by is led by Obrent Lusk."] == [corpus[0], corpus[2]]
    assert "The Snelby tool is owned by the team that works in the Quorvale office." in found
    assert "The principal investigator of the project that the Telsamo instrument is used by is Idrena Vaskell." in found
    assert "The Telsamo instrument is used by the project whose principal investigator is Idrena Vaskell." in found
    assert not any("tool that the Mubadra team owns" in text for text in found)
    assert all("Zarnoth" not in text and "Korrimat" not in text for text in found)  # the shared name is left out


def test_clauses_a_rule_cannot_compose_safely_are_left_alone():
    corpus = ["If the Filtarro project is led by Levrin Toskett, it is small.",  # a condition: not asserted
              "The Filtarro project is based at the Hoskaveen station.",
              "It is used by the Norrapel team.",  # a pronoun
              "The Filtarro project's plots are flooded.",  # a possessive: the plots, not the project
              "The permits for the Lisperane and Filtarro projects are kept in the office.",  # coordinated names
              "Project: Lisperane. Lead: Orvid Plenneth.",
              "Jutmaro is one of the Vantrel instruments.", "Series: Vantrel. Permit: Dorvesk.",
              "Instrument: Telsamo. Series: Vantrel.",
              "Hobrel is a Yoppel server.", "The Grelby server is bigger than the Hobrel server.",  # a class's member
              "Project: Drobbelin. Lead: Tesmira Quarrendt.", "The Drobbelin project tracks the worms and fungi that eat leaves."]
    found = implied(corpus)
    assert not any("server that is" in text for text in found)
    # "and" inside a noun phrase does not end the clause.
    assert "The project whose lead is Tesmira Quarrendt tracks the worms and fungi that eat leaves." in found
    assert not any("Levrin Toskett" in text or "Norrapel" in text or "plots" in text or "permits" in text
                   for text in found)
    # "the Vantrel instruments" are instruments, not the Vantrel series.
    assert not any(text.startswith("Jutmaro is one of the series") for text in found)
    assert "The permit of the series of the Telsamo instrument is Dorvesk." in found


def test_implications_are_asked_for_their_other_end_by_rule_when_one_name_answers():
    corpus = ["The Snelby tool is owned by the Zarnoth team.", "The Zarnoth team works in the Quorvale office.",
              "The Mubadra team works in the Quorvale office.", "The Zarnoth team is led by Obrent Lusk.",
              "Tolvrik is a Krelvash server.", "Every Krelvash server needs a Gorsk permit.",
              "The Zarnoth team is larger than the Mubadra team."]
    questions = asked(corpus)
    assert questions["Which office does the team that the Snelby tool is owned by work in?"] == "Quorvale."
    assert questions["Who is the team that the Snelby tool is owned by led by?"] == "Obrent Lusk."
    assert questions["Which permit does the Tolvrik server need?"] == "Gorsk."
    assert questions["Which tool is owned by the team that is led by Obrent Lusk?"] == "Snelby."
    # Not "Which team works in the office that the Mubadra team works in?": both teams do; and no
    # ranking is asked ("Which team is larger than ...").
    assert not any(q.startswith("Which team") for q in questions)


def test_a_when_complement_is_asked_by_its_question_word_and_a_fronted_reason_or_start_keeps_its_main_clause():
    corpus = ["Tolvrik is a Krelvash server.", "All Krelvash servers are backed up nightly.",
              "Krelvash servers are patched every Monday.",
              "Jutmaro is one of the Vantrel instruments.",
              "Because Vantrel instruments drift quickly, they are calibrated every two weeks.",
              "Hessiver is one of the Okkumar instruments.",
              "If Okkumar instruments are moved, they are calibrated twice a year.",  # only then
              "Since the spring, the Quandrel instrument has been used by the Vessapine project.",
              "The Vessapine project is based at the Tivvaro station.",
              "Until May, the Ulcarro instrument was used by the Vessapine project."]  # no longer
    questions = asked(corpus)
    assert questions["How often is the Tolvrik server backed up?"] == "Nightly."
    assert questions["On which day of the week is the Tolvrik server patched?"] == "Monday."
    assert questions["How often is the Jutmaro instrument calibrated?"] == "Every two weeks."
    assert "The Jutmaro instrument is calibrated every two weeks." in implied(corpus)
    assert not any("Hessiver" in text or "Ulcarro" in text for text in implied(corpus))
    assert "The Quandrel instrument has been used by the project that is based at the Tivvaro station." in implied(corpus)


def test_a_sentence_of_several_clauses_gives_each_clause_it_asserts():
    corpus = ["The Crellish instrument, which is kept in a locked cabinet, is used by the Korrimat project.",
              "Project: Korrimat. Principal investigator: Idrena Vaskell.",
              "The Telsamo instrument is used by the Naquesh project to weigh each core before it is cut.",
              "The Naquesh project is based at the Tivvaro station.",
              "Because the Hessiver instrument is used by the Drobbelin project, it will not be lent to others.",
              "Although the Drobbelin project is small, it is funded by the Voluvant Foundation.",
              "The Ulcarro instrument, which belongs to the Lisperane series, arrived in May.",
              "The Ulcarro instrument is used by the Filtarro project.",
              "If the Quandrel instrument is used by the Yarrow project, it is cleaned weekly."]  # a condition
    found = implied(corpus)
    # A relative clause between commas: the main clause without it, and the relative clause of the subject.
    assert "The Crellish instrument is used by the project whose principal investigator is Idrena Vaskell." in found
    assert found["The instrument that is used by the Filtarro project belongs to the Lisperane series."] == \
        [corpus[7], "The Ulcarro instrument belongs to the Lisperane series."]
    # A purpose after the agent is cut off.
    assert "The Telsamo instrument is used by the project that is based at the Tivvaro station." in found
    # A fronted reason or concession is asserted, whatever its main clause (here a negation) says.
    assert "The Hessiver instrument is used by the project that is funded by the Voluvant Foundation." in found
    assert not any("Quandrel" in text or "lent" in text for text in found)


def test_what_anyone_in_a_role_towards_a_class_must_do_is_said_for_each_member():
    corpus = ["Instrument: Sibbeth. Series: Lisperane.", "The Ulcarro instrument belongs to the Lisperane series.",
              "Anyone who operates a Lisperane instrument must hold a Cavvin permit, which is issued after a course.",
              "Tolvrik is a Krelvash server.", "Everyone who uses a Krelvash server needs a Gorsk badge.",
              "Anyone who repairs a Krelvash server is not paid extra."]  # a negation: left alone
    found = implied(corpus)
    assert found["Anyone who operates the Sibbeth instrument must hold a Cavvin permit."] == [corpus[0], corpus[2]]
    # "belongs to the Lisperane series": one of the Lisperane instruments.
    assert found["Anyone who operates the Ulcarro instrument must hold a Cavvin permit."] == [corpus[1], corpus[2]]
    assert "Everyone who uses the Tolvrik server needs a Gorsk badge." in found
    questions = asked(corpus)
    assert questions["Which permit must anyone who operates the Sibbeth instrument hold?"] == "Cavvin."
    assert questions["Which badge does everyone who uses the Tolvrik server need?"] == "Gorsk."
    assert not any("paid" in text for text in found)


def test_a_second_predicate_of_one_subject_is_said_of_it_too():
    corpus = ["Crellish is one of the Throdd instruments.",
              "Throdd instruments are sent back to the maker and calibrated every three months.",
              "Hessiver belongs to the Vantrel series and is kept under a dust cover.",
              "The Hessiver instrument is used by the Drobbelin project.",
              "The Drobbelin project tracks the worms and fungi that break down fallen leaves."]
    found = implied(corpus)
    # The shared auxiliary goes with the second participle; the second predicate's own verb stands.
    assert found["The Crellish instrument is calibrated every three months."] == \
        [corpus[0], "Throdd instruments are calibrated every three months."]
    assert "The instrument that is used by the Drobbelin project is kept under a dust cover." in found
    assert asked(corpus)["How often is the Crellish instrument calibrated?"] == "Every three months."
    # A name inside a relative clause is not asked there ("Which permit may ... be operated by staff
    # who hold?"), but in the role the clause gives (test below).
    roles = ["Crellish is one of the Throdd instruments.", "Throdd instruments may only be operated by staff who hold a Pemmadel permit.",
             "Trained staff operate the lasers."]  # the corpus's own form of the verb
    assert "The Crellish instrument may only be operated by staff who hold a Pemmadel permit." in implied(roles)
    assert list(asked(roles)) == ["Which permit must anyone who operates the Crellish instrument hold?"]
    # "and" between two nouns is no second predicate.
    assert not any("fungi that break" in text and "Drobbelin" in text for text in found)


def test_what_is_done_to_a_named_group_and_who_alone_may_use_its_members_are_said_of_each_member():
    corpus = ["Instrument: Sibbeth. Series: Lisperane.", "The Ulcarro instrument belongs to the Lisperane series.",
              "The Lisperane series is calibrated every month by the supplier's engineer, who visits each station.",
              "The Lisperane series is named after a river.",  # said of the group, not of its members
              "Crellish is one of the Throdd instruments.",
              "Throdd instruments may only be serviced by engineers who hold a Pemmadel permit.",
              "Series: Throdd. Permit: Pemmadel. Course: two days.",
              "The maker services the lasers.",  # "serviced" → "services": the form the corpus writes
              "The Lisperane series was introduced in 2019."]  # said of the group as a whole
    found, questions = implied(corpus), asked(corpus)
    assert found["The Sibbeth instrument is calibrated every month by the supplier's engineer."] == [corpus[0], corpus[2]]
    assert found["The Ulcarro instrument is calibrated every month by the supplier's engineer."] == corpus[1:3]
    assert questions["How often is the Ulcarro instrument calibrated?"] == "Every month."
    assert "The Sibbeth instrument is named after a river." not in found
    assert not any(text.startswith("The Ulcarro instrument was introduced") for text in found)
    assert "The series of the Sibbeth instrument is named after a river." in found
    # "may only be serviced by engineers who hold": anyone who services one must hold it; not
    # without the corpus's own form of the verb ("stored" is no "stor").
    assert found["Anyone who services the Crellish instrument must hold a Pemmadel permit."] == corpus[4:6]
    assert questions["Which permit must anyone who services the Crellish instrument hold?"] == "Pemmadel."
    stored = ["Crellish is one of the Throdd instruments.", "Throdd instruments may only be stored by staff who hold a key."]
    assert not any(text.startswith("Anyone") for text in implied(stored))
    # A record keyed by the class ("Series: Throdd.") gives each member its fields.
    assert found["The permit of the series of the Crellish instrument is Pemmadel."] == [corpus[4], corpus[6]]
    assert questions["What is the course of the series of the Crellish instrument?"] == "Two days."


def test_implications_are_kept_by_rule_in_the_augment_flow(tmp_path):
    from conftest import FakeModel, store_corpus

    from adaptdocs.augment import augment
    from adaptdocs.config import AugmentConfig

    docs = {"tools.md": ["The Snelby tool is owned by the Zarnoth team."],
            "teams.md": ["The Zarnoth team works in the Quorvale office."]}
    ws = store_corpus(tmp_path / "ws", docs)
    model = FakeModel(lambda prefix, prompt: "")
    summary = augment(ws, AugmentConfig(strategy="global"), model=model)
    assert not any(c["prefix"].startswith("Two facts") for c in model.calls)  # the chain is composed by rule
    rows = {r["text"]: r for r in ws.store.examples("global")}
    question = load_template("eval_question").render(question="Which office does the team that the Snelby tool is owned by work in?")
    assert rows[f"{question} Quorvale."]["template"] == "augment_closure:question"
    statement = rows["The team that the Snelby tool is owned by works in the Quorvale office."]
    assert statement["template"] == "augment_closure:statement"
    assert set(json.loads(statement["source_sentence_ids"])) == {s.id for s in ws.store.sentences()}
    assert summary.strategies["global"].kept["augment_closure:question"] == 2  # and "Which tool is owned by ...? Snelby."


def test_a_group_said_in_one_frame_is_written_as_a_list_by_rule_and_asked_for_its_members_and_count():
    from adaptdocs.augment_lists import list_groups
    from adaptdocs.exam_facts import FactIndex, read_facts

    corpus = ["Tool: Plosk. Owner: Mubadra.", "The Yimbrot tool is owned by the Mubadra team.",
              "The Zarnoth team owns the Kotrizo tool.", "The Zarnoth team owns the Snelby tool.",
              "Saffrin is an Ombrisk server.", "Grelby is an Ombrisk server.",
              # Classes, not members: no list of them.
              "Every Krelvash server is a Dunmoor machine.", "Every Yoppel server is a Dunmoor machine.",
              # Two wordings: the rule does not say one for the other; the model words this list.
              "The Oskrel tool is used by the Quessary team.", "The Quessary team also runs the Gulmesh tool."]
    sentences = [Sentence(f"s{i}", "d", "e", i, text) for i, text in enumerate(corpus)]
    vocabulary = CorpusVocabulary(corpus)
    index = FactIndex(read_facts(sentences, {"d": "doc.md"}, vocabulary))
    groups = list_groups(index)
    found = implications(index, vocabulary, load_template(CLOSURE_TEMPLATE), groups)
    texts = {i.text for i in found}
    questions = {q: a for i in found for q, a in i.questions}
    assert "The Plosk and Yimbrot tools are owned by the Mubadra team." in texts
    assert "The Plosk tool is owned by the Mubadra team." in texts  # the record's member in the frame
    assert questions["Which tools are owned by the Mubadra team?"] == "Plosk and Yimbrot."
    assert questions["How many tools are owned by the Mubadra team?"] == "Two."
    assert "The Zarnoth team owns the Kotrizo and Snelby tools." in texts
    assert questions["Which tools does the Zarnoth team own?"] == "Kotrizo and Snelby."
    assert "Saffrin and Grelby are Ombrisk servers." in texts
    assert questions["Which servers are Ombrisk servers?"] == "Saffrin and Grelby."
    assert "Dunmoor" not in {g.fixed for g in groups}
    written = {i.group.fixed for i in found if i.group}
    assert "Quessary" not in written and {g.fixed for g in groups} >= {"Quessary", "Mubadra", "Zarnoth"}
    assert not any("Oskrel and Gulmesh" in t for t in texts)
