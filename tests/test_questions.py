import json

import pytest

from adaptdocs.errors import AdaptdocsError
from adaptdocs.questions import Question, load_questions

GOOD = {"id": "q1", "question": "Which team owns the Plosk tool?",
        "choices": ["Mubadra", "Trimbelo", "Quessary", "Dolvane"], "answer": 0,
        "kind": "recall", "sources": ["catalogue.html"]}


def write(tmp_path, *lines, name="questions.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def variant(**changes):
    record = {**GOOD, **changes}
    return {k: v for k, v in record.items() if v is not ...}


def test_valid_file_loads_every_field(tmp_path):
    cloze = variant(id="q2", question="The Plosk tool is owned by the", style="cloze", answer=1)
    path = write(tmp_path, GOOD, "", cloze)
    qs = load_questions(path)
    assert qs.problems == []
    assert qs.questions == [
        Question(id="q1", question=GOOD["question"], choices=GOOD["choices"], answer=0, kind="recall",
                 sources=["catalogue.html"], style="question"),
        Question(id="q2", question="The Plosk tool is owned by the", choices=GOOD["choices"], answer=1,
                 kind="recall", sources=["catalogue.html"], style="cloze"),
    ]
    assert qs.path == path
    assert len(qs.sha256) == 64
    assert qs.count_by_kind() == {"recall": 2}


def test_answer_given_as_choice_text_becomes_its_index(tmp_path):
    qs = load_questions(write(tmp_path, variant(answer="Quessary")))
    assert qs.questions[0].answer == 2


def test_missing_id_and_sources_get_defaults(tmp_path):
    qs = load_questions(write(tmp_path, GOOD, variant(id=..., sources=..., style=...)))
    assert qs.questions[1].id == "line2"
    assert qs.questions[1].sources == []
    assert qs.questions[1].style == "question"


def test_integer_id_is_kept_as_text(tmp_path):
    assert load_questions(write(tmp_path, variant(id=7))).questions[0].id == "7"


@pytest.mark.parametrize(
    "line, expected",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        (variant(question=""), "'question' must be a non-empty string"),
        (variant(question="   "), "'question' must be a non-empty string"),
        (variant(question=...), "'question' must be a non-empty string"),
        (variant(choices=["only one"], answer=0), "at least 2 entries"),
        (variant(choices="Mubadra"), "'choices' must be a list"),
        (variant(choices=["Mubadra", 3]), "'choices' must be a list"),
        (variant(choices=["Mubadra", ""]), "'choices' must be a list"),
        (variant(choices=["Mubadra", "Mubadra", "Osk"]), "'choices' repeats 'Mubadra'"),
        (variant(answer=4), "'answer' 4 is out of range 0..3"),
        (variant(answer=-1), "out of range"),
        (variant(answer="Nobody"), "'answer' 'Nobody' is not one of the choices"),
        (variant(answer=True), "'answer' must be a choice index"),
        (variant(answer=1.0), "'answer' must be a choice index"),
        (variant(answer=...), "'answer' must be a choice index"),
        (variant(kind=...), "'kind' must be a non-empty string"),
        (variant(kind=""), "'kind' must be a non-empty string"),
        (variant(style="essay"), "'style' must be one of question, cloze"),
        (variant(sources="catalogue.html"), "'sources' must be a list"),
        (variant(id=""), "'id' must be"),
        (variant(id=["q"]), "'id' must be"),
        (variant(id="q0"), None),  # control: valid
    ],
)
def test_malformed_line_is_reported_with_its_number_and_skipped(tmp_path, line, expected):
    qs = load_questions(write(tmp_path, GOOD, line))
    if expected is None:
        assert qs.problems == [] and len(qs.questions) == 2
        return
    assert [q.id for q in qs.questions] == ["q1"]
    assert len(qs.problems) == 1
    assert qs.problems[0].startswith("line 2: ")
    assert expected in qs.problems[0]
    assert qs.problems[0].endswith(", skipped")


def test_duplicate_id_is_skipped(tmp_path):
    qs = load_questions(write(tmp_path, GOOD, variant(answer=1)))
    assert len(qs.questions) == 1 and qs.questions[0].answer == 0
    assert qs.problems == ["line 2: duplicate id 'q1', skipped"]


def test_line_numbers_count_blank_lines(tmp_path):
    qs = load_questions(write(tmp_path, GOOD, "", "", variant(id="q2", kind="")))
    assert qs.problems[0].startswith("line 4: ")


def test_strict_raises_at_first_problem_naming_the_line(tmp_path):
    path = write(tmp_path, GOOD, variant(id="q2", answer=9), "{bad")
    with pytest.raises(AdaptdocsError) as raised:
        load_questions(path, strict=True)
    assert "line 2" in str(raised.value) and "out of range" in str(raised.value)
    assert "--strict" in raised.value.hint
    assert len(load_questions(path).problems) == 2


def test_strict_accepts_a_clean_file(tmp_path):
    assert len(load_questions(write(tmp_path, GOOD), strict=True).questions) == 1


def test_missing_file(tmp_path):
    with pytest.raises(AdaptdocsError, match="does not exist") as raised:
        load_questions(tmp_path / "nope.jsonl")
    assert raised.value.hint


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(AdaptdocsError, match="is a directory"):
        load_questions(tmp_path)


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "q.jsonl"
    path.write_text(content)
    with pytest.raises(AdaptdocsError, match="is empty") as raised:
        load_questions(path)
    assert raised.value.hint


def test_not_jsonl(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("question,choices,answer\nWho?,a;b,0\n")
    with pytest.raises(AdaptdocsError, match="not JSONL") as raised:
        load_questions(path)
    assert raised.value.hint


def test_binary_file(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(AdaptdocsError, match="not UTF-8"):
        load_questions(path)


def test_no_valid_question_left(tmp_path):
    with pytest.raises(AdaptdocsError, match="no valid question.*line 1"):
        load_questions(write(tmp_path, variant(kind=...), variant(id="q2", answer=7)))


def test_utf8_bom_and_non_ascii_text(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(variant(question="Qui possède Plosk ?"), ensure_ascii=False).encode())
    assert load_questions(path).questions[0].question == "Qui possède Plosk ?"


def test_sha256_changes_with_content(tmp_path):
    first = load_questions(write(tmp_path, GOOD, name="a.jsonl")).sha256
    second = load_questions(write(tmp_path, variant(answer=1), name="b.jsonl")).sha256
    assert first != second
