"""Stop sequences the proxy applies itself (pure): any split of the text gives the same cut."""

import pytest

from anthroproxy.translate.responses.stops import StopCutter, cut

TEXT = "alpha beta ENDgamma END delta"


def fed(pieces, sequences):
    cutter = StopCutter(sequences)
    out = "".join(cutter.feed(piece) for piece in pieces) + cutter.flush()
    return out, cutter.matched


def every_split(text):
    yield [text]
    for at in range(len(text) + 1):
        yield [text[:at], text[at:]]
    for first in range(len(text) + 1):
        for second in range(first, len(text) + 1):
            yield [text[:first], text[first:second], text[second:]]
    yield list(text)


@pytest.mark.parametrize(
    ("sequences", "expected"),
    [(["END"], ("alpha beta ", "END")),
     (["gamma", "ta E"], ("alpha be", "ta E")),  # the earliest match wins
     (["ENDx", "zzz"], (TEXT, None)),  # a partial match held back is let go at the end
     ([], (TEXT, None)), (None, (TEXT, None)), ([""], (TEXT, None))],
)
def test_any_split_gives_the_same_cut(sequences, expected):
    assert cut(TEXT, sequences) == expected
    for pieces in every_split(TEXT):
        assert fed(pieces, sequences) == expected, pieces


def test_only_what_could_begin_a_sequence_is_held_back():
    cutter = StopCutter(["</answer>"])
    assert cutter.feed("x </ans") == "x "
    assert cutter.feed("wer> more") == ""
    assert cutter.matched == "</answer>" and cutter.flush() == ""
    cutter = StopCutter(["\n\nHuman:"])
    assert cutter.feed("line\n") == "line"
    assert cutter.feed("more") == "\nmore"


def test_text_after_a_match_is_not_let_out():
    cutter = StopCutter(["STOP"])
    assert cutter.feed("aSTOPb") == "a"
    assert cutter.feed("more") == "" and cutter.flush() == ""
