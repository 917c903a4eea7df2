"""A reasoning item carried in a thinking block's signature (pure)."""

from anthroproxy.testing.fake_upstream import output_reasoning
from anthroproxy.translate.responses.reasoning import MARK, ReasoningItem, from_item, from_signature


def test_an_item_survives_the_round_trip_through_a_signature():
    for item in (ReasoningItem("rs_1", "gAAAA" * 400), ReasoningItem("rs_2"), ReasoningItem("rs_3", None, True)):
        signature = item.signature()
        assert signature.startswith(MARK) and signature.isascii()
        assert from_signature(signature) == item


def test_signatures_that_are_not_ours_carry_nothing():
    for signature in (None, "", "EqQBCkYIBxgCKkD", MARK + "%%%", MARK + "bm90IGpzb24", MARK + "WzFd", 7):
        assert from_signature(signature) is None


def test_the_text_is_the_summary_else_the_models_own_reasoning():
    text, item = from_item({"id": "rs_1", "type": "reasoning", "encrypted_content": "E",
                            "summary": [{"type": "summary_text", "text": "one"},
                                        {"type": "summary_text", "text": "two"}]})
    assert (text, item) == ("one\n\ntwo", ReasoningItem("rs_1", "E"))
    text, item = from_item({"id": "rs_2", "type": "reasoning", "summary": [],
                            "content": [{"type": "reasoning_text", "text": "raw thought"}]})
    assert (text, item) == ("raw thought", ReasoningItem("rs_2", None, True))


def test_the_item_goes_back_as_it_came():
    original = output_reasoning("plan", "rs_9", "ENC")
    text, item = from_item(original)
    assert item.item(text) == original
    assert ReasoningItem("rs_2", None, True).item("raw") == {
        "type": "reasoning", "id": "rs_2", "summary": [], "content": [{"type": "reasoning_text", "text": "raw"}]}
