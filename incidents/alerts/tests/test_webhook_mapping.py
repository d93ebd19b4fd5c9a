"""The generic webhook's mapping, without a database: selectors (the JSONPath subset), the
mapping's checks, and bodies read through it (fixtures/webhook/: Uptime Kuma's bodies)."""

import json
import re

import pytest

from incidents.alerts import selectors, webhook
from incidents.alerts.tests.test_webhook import KUMA, load

# --- selectors --------------------------------------------------------------------------------

DOC = {"a": {"b": [{"c": 1}, {"c": 2}]}, "key with space": "yes", 'q"uote': True, "n": None, "x-y_z": "dash"}


@pytest.mark.parametrize(
    "text, value",
    [
        ("$", DOC),
        ("$.a.b[0].c", 1),
        ("$.a.b[-1].c", 2),
        ('$["key with space"]', "yes"),
        ("$['key with space']", "yes"),
        ('$["q\\"uote"]', True),
        ("$.x-y_z", "dash"),
        ("  $.a.b[1]  ", {"c": 2}),
        ("$.n", None),
        ("$.a.b[2].c", selectors.MISSING),
        ("$.a.b.c", selectors.MISSING),
        ("$.a[0]", selectors.MISSING),
        ("$.nothing.deeper", selectors.MISSING),
    ],
)
def test_a_selector_picks_one_value_or_nothing(text, value):
    assert selectors.parse(text).select(DOC) == value


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "empty"),
        ("a.b", "starts with $"),
        ("$.", "character 2"),
        ("$..a", "character 2"),
        ("$.a b", "Unexpected “ ”"),
        ("$[", "number or a quoted key"),
        ("$[*]", "number or a quoted key"),
        ("$[0", "not closed"),
        ('$["a]', "not closed"),
        ('$["a"', "not closed by"),
        ('$["a\\n"]', "escapes only"),
        ("$[1:2]", "not closed by"),
        ("$.a[?(@.b)]", "number or a quoted key"),
        ("$" + ".a" * 300, "longer than"),
    ],
)
def test_a_selector_outside_the_subset_is_refused_saying_where(text, words):
    with pytest.raises(selectors.SelectorError, match=re.escape(words)):
        selectors.parse(text)


@pytest.mark.parametrize(
    "text, value",
    [
        ('$.ab["c d"]', "odd start"),
        ("$.a.b[5]", selectors.MISSING),
        ("$.a.b[-2].c", 1),
        ("$.a.b[-3]", selectors.MISSING),
        ("$.a.b[1].c", 2),
        ("$['it\\'s']", "apostrophe"),
        ('$["back\\\\slash"]', "backslash"),
        ('$["[x].y"]', "brackets"),
        ("$[0]", selectors.MISSING),
    ],
)
def test_list_ends_and_escapes(text, value):
    doc = {**DOC, "it's": "apostrophe", "back\\slash": "backslash", "[x].y": "brackets", "ab": {"c d": "odd start"}}
    assert selectors.parse(text).select(doc) == value


def test_nothing_is_not_null_and_says_so():
    assert selectors.parse("$.n").select(DOC) is None
    assert selectors.parse("$.gone").select(DOC) is selectors.MISSING
    # What a failing comparison shows.
    assert repr(selectors.MISSING) == "MISSING"


def test_a_selector_of_500_characters_is_the_longest():
    longest = "$" + ".a" * 249 + "b"
    assert len(longest) == 500
    assert selectors.parse(longest).steps[-1] == "ab"
    with pytest.raises(selectors.SelectorError, match="longer than 500"):
        selectors.parse(longest + "c")


def test_a_parsed_selector_is_a_value():
    assert selectors.parse("$.a[0]") == selectors.parse(" $.a[0] ")
    assert len({selectors.parse("$.a"), selectors.parse("$.a")}) == 1


@pytest.mark.parametrize("end", ["[", '["a', "[0", "[0}", '["a\\'])
def test_a_long_selector_ending_early_is_refused_not_crashed(end):
    """Past 256 characters, where Python's small integers end (an `is` for `<` would crash)."""
    with pytest.raises(selectors.SelectorError):
        selectors.parse("$" + ".a" * 150 + end)


def test_a_long_selector_with_an_open_quote_says_where_it_opened():
    with pytest.raises(selectors.SelectorError) as caught:
        selectors.parse("$" + ".a" * 150 + '["b')
    assert str(caught.value) == "The quote opened at character 303 is not closed."


def test_a_long_selector_reads_to_its_end():
    assert selectors.parse("$" + ".a" * 150 + '["b c"][3]').steps[-2:] == ("b c", 3)


@pytest.mark.parametrize(
    "text, message",
    [
        ("#.a", "A selector starts with $ (the whole body), e.g. $.#.a."),
        (" .a", "A selector starts with $ (the whole body), e.g. $.a."),
        ("$.a}", 'Unexpected “}” at character 4: a step is .key, [0] or ["key"].'),
        ("$.a~", 'Unexpected “~” at character 4: a step is .key, [0] or ["key"].'),
        ('$.ab["c', "The quote opened at character 6 is not closed."),
        ("a.b", "A selector starts with $ (the whole body), e.g. $.a.b."),
        (".a", "A selector starts with $ (the whole body), e.g. $.a."),
        ("$.a.", 'After the “.” at character 4 comes a key of letters, digits, _ or -; write other keys as ["…"].'),
        ("$.a!", 'Unexpected “!” at character 4: a step is .key, [0] or ["key"].'),
        ("$.a[x]", 'After the “[” at character 4 comes a number or a quoted key: [0], ["key"].'),
        ("$.a[0", "The “[” at character 4 is not closed by “]”."),
        ("$.a[0}", "The “[” at character 4 is not closed by “]”."),
        ('$.a["b', "The quote opened at character 5 is not closed."),
        ('$.a["b\\', "At character 7: inside quotes, \\ escapes only \\, \" and '."),
        ('$.a["b\\x"]', "At character 7: inside quotes, \\ escapes only \\, \" and '."),
    ],
)
def test_the_refusal_says_exactly_where(text, message):
    with pytest.raises(selectors.SelectorError) as caught:
        selectors.parse(text)
    assert str(caught.value) == message


# --- the mapping's checks ------------------------------------------------------------------------


def check(**changes):
    return webhook.check_mapping(**{**KUMA, **changes})


def test_the_uptime_kuma_mapping_is_valid():
    rules = check()
    assert set(rules.selectors) == {"title", "description", "service", "dedup_key", "resolve_when"}
    assert rules.resolve_values == {"1"}


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"title": ""}, "title", "needs a title"),
        ({"title": "monitor.name"}, "title", "starts with $"),
        ({"dedup_key": "$.monitor[id]"}, "dedup_key", "number or a quoted key"),
        ({"severity": "$.p", "severity_map": "P1 = critical", "default_severity": ""}, "default_severity", "default"),
        ({"severity": "", "default_severity": ""}, "default_severity", "Without a severity selector"),
        ({"severity": "$.p", "severity_map": "P1 critical"}, "severity_map", "Line 1"),
        ({"severity": "$.p", "severity_map": "P1 = urgent"}, "severity_map", "“urgent” is not a severity"),
        ({"severity": "$.p", "severity_map": "p1 = high\nP1 = low"}, "severity_map", "listed twice"),
        ({"severity": "", "severity_map": "P1 = high"}, "severity_map", "give that selector too"),
        ({"resolve_values": ""}, "resolve_values", "which values"),
        ({"resolve_when": ""}, "resolve_when", "Give the selector"),
        ({"default_severity": "urgent"}, "default_severity", "Choose one of"),
    ],
)
def test_a_wrong_mapping_is_refused_at_the_field_that_is_wrong(changes, field, words):
    with pytest.raises(webhook.MappingError) as caught:
        check(**changes)
    assert words in caught.value.errors[field]


def test_every_wrong_field_is_named_at_once():
    with pytest.raises(webhook.MappingError) as caught:
        check(title="", description="x", resolve_values="")
    assert set(caught.value.errors) == {"title", "description", "resolve_values"}


# --- a body through the mapping --------------------------------------------------------------------


def test_the_kuma_bodies_map_to_a_firing_and_a_resolving_delivery():
    rules = check()
    down = webhook.apply_rules(rules, load("uptime-kuma-down"))
    assert (down.title, down.severity, down.service, down.dedup_key, down.resolve) == (
        "Shop front page",
        "high",
        "Shop front page",
        "29",
        False,
    )
    assert down.description.startswith("[Shop front page] [🔴 Down]")
    assert webhook.apply_rules(rules, load("uptime-kuma-up")).resolve is True


@pytest.mark.parametrize(
    "value, severity",
    [
        ("P1", "critical"),
        (" p1 ", "critical"),
        ("crit", "critical"),
        ("P2", "high"),
        ("P9", "low"),
        (None, "low"),
        (3, "medium"),
    ],
)
def test_a_severity_value_is_mapped_and_the_default_takes_the_rest(value, severity):
    rules = check(
        severity="$.priority",
        severity_map="P1 = critical\ncrit = critical\nP2 = high\n3 = medium",
        default_severity="low",
    )
    body = {"monitor": {"name": "x", "id": 1}} | ({"priority": value} if value is not None else {})
    assert webhook.apply_rules(rules, body).severity == severity


def test_without_a_map_the_value_must_name_a_severity():
    rules = check(severity="$.level", default_severity="")
    assert webhook.apply_rules(rules, {"monitor": {"name": "x", "id": 1}, "level": "Critical"}).severity == "critical"
    with pytest.raises(webhook.Unmappable) as caught:
        webhook.apply_rules(rules, {"monitor": {"name": "x", "id": 1}, "level": "P7"})
    assert caught.value.errors == [
        {
            "field": "severity",
            "selector": "$.level",
            "message": "“p7” is not a severity (critical, high, medium, low), and the mapping has no default severity.",
        }
    ]


def test_every_problem_of_a_body_is_named_with_its_selector():
    rules = check(severity="$.level", default_severity="")
    with pytest.raises(webhook.Unmappable) as caught:
        webhook.apply_rules(rules, {"monitor": {"name": {"first": "x"}}})
    assert [(e["field"], e["selector"]) for e in caught.value.errors] == [
        ("title", "$.monitor.name"),
        ("service", "$.monitor.name"),
        ("severity", "$.level"),
        ("dedup_key", "$.monitor.id"),
    ]
    assert "selects an object" in caught.value.errors[0]["message"]
    assert str(caught.value).startswith("title ($.monitor.name): selects an object")


def test_values_become_text_as_json_writes_them_and_the_description_may_be_an_object():
    rules = check(title="$.t", description="$.d", dedup_key="", service="", resolve_when="$.ok", resolve_values="true")
    mapped = webhook.apply_rules(rules, {"t": 12.5, "d": {"why": "disk"}, "ok": True})
    assert (mapped.title, mapped.dedup_key, mapped.resolve, mapped.service) == ("12.5", "12.5", True, "")
    assert json.loads(mapped.description) == {"why": "disk"}
    mapped = webhook.apply_rules(rules, {"t": "  Disk full  ", "ok": False})
    assert (mapped.title, mapped.description, mapped.resolve) == ("Disk full", "Disk full", False)


def test_a_missing_or_empty_title_is_refused():
    rules = check()
    for body in ({}, {"monitor": {"name": "   ", "id": 1}}, [1, 2], "text"):
        with pytest.raises(webhook.Unmappable, match=re.escape("title ($.monitor.name): found nothing")):
            webhook.apply_rules(rules, body)


def test_the_default_service_serves_when_the_selector_finds_nothing():
    rules = check(service="$.svc", default_service="Shop")
    assert webhook.apply_rules(rules, load("uptime-kuma-down")).service == "Shop"


def test_long_values_are_cut_to_what_an_incident_holds_and_a_key_over_1000_is_refused():
    rules = check(title="$.t", description="$.d", service="$.s", dedup_key="$.k")
    body = {"t": "T" * 250, "d": "D" * 10_050, "s": "S" * 150, "k": "K" * 1000}
    mapped = webhook.apply_rules(rules, body)
    assert (len(mapped.title), len(mapped.description), len(mapped.service), len(mapped.dedup_key)) == (
        200,
        10_000,
        100,
        1000,
    )
    with pytest.raises(webhook.Unmappable) as caught:
        webhook.apply_rules(rules, {**body, "k": "K" * 1001})
    assert caught.value.errors == [
        {"field": "dedup_key", "selector": "$.k", "message": "gives a key longer than 1000 characters."}
    ]


def test_a_key_from_the_title_is_the_title_as_stored():
    rules = check(title="$.t", dedup_key="")
    assert webhook.apply_rules(rules, {"t": "T" * 1500}).dedup_key == "T" * 200


def test_the_severity_map_skips_blank_lines_and_splits_at_the_last_equals_sign():
    assert webhook.parse_severity_map("\n  \nlevel=1 = High\n CRIT =critical \n") == {
        "level=1": "high",
        "crit": "critical",
    }
    for text, message in [
        ("= high", "Line 1 (“= high”) is not “value = severity”, e.g. “P1 = critical”."),
        ("\nP1", "Line 2 (“P1”) is not “value = severity”, e.g. “P1 = critical”."),
        ("P1 = urgent", "Line 1: “urgent” is not a severity (critical, high, medium, low)."),
        ("a = low\nA = high", "Line 2: the value “a” is listed twice."),
    ]:
        with pytest.raises(ValueError) as caught:
            webhook.parse_severity_map(text)
        assert str(caught.value) == message


def test_a_missing_severity_value_without_a_default_is_refused():
    rules = check(severity="$.level", default_severity="")
    with pytest.raises(webhook.Unmappable) as caught:
        webhook.apply_rules(rules, {"monitor": {"name": "x", "id": 1}})
    assert caught.value.errors[0]["message"] == (
        "found nothing in the body (critical, high, medium, low), and the mapping has no default severity."
    )


def test_a_selector_that_finds_a_list_is_named_as_one():
    rules = check(title="$.t")
    with pytest.raises(webhook.Unmappable) as caught:
        webhook.apply_rules(rules, {"t": ["a"], "monitor": {"id": 1}})
    assert caught.value.errors[0]["message"] == "selects a list, not a value; select inside it."
    assert len(caught.value.errors) == 1  # the missing title is not said twice


def test_a_map_refuses_a_severity_name_it_does_not_list():
    rules = check(severity="$.p", severity_map="P1 = critical", default_severity="low")
    assert webhook.apply_rules(rules, {"p": "critical", "monitor": {"name": "x", "id": 1}}).severity == "low"


def test_the_message_counts_the_other_problems():
    rules = check(severity="$.level", default_severity="")
    with pytest.raises(webhook.Unmappable) as caught:
        webhook.apply_rules(rules, {"level": "x"})
    assert str(caught.value).endswith("(and 2 more problems)")  # severity, dedup_key
    with pytest.raises(webhook.Unmappable) as caught:
        webhook.apply_rules(rules, {"monitor": {"name": "x", "id": 1}, "level": "x"})
    assert str(caught.value).endswith("mapping has no default severity.")


def test_values_in_messages_are_cut_at_50_characters():
    long = "v" * 60
    with pytest.raises(ValueError, match=f"“{'v' * 50}”\\)"):
        webhook.parse_severity_map(long)
    with pytest.raises(ValueError, match=f"the value “{'v' * 50}” is listed twice"):
        webhook.parse_severity_map(f"{long} = low\n{long} = high")
    with pytest.raises(ValueError, match=f"Line 1: “{'v' * 50}” is not a severity"):
        webhook.parse_severity_map(f"P1 = {long}")
    rules = check(severity="$.level", default_severity="")
    with pytest.raises(webhook.Unmappable, match=f"“{'v' * 50}” is not a severity"):
        webhook.apply_rules(rules, {"monitor": {"name": "x", "id": 1}, "level": long})


def test_an_object_description_is_json_indented_by_two():
    rules = check(description="$.d")
    body = {"monitor": {"name": "x", "id": 1}, "d": {"a": [1], "é": "✓"}}
    assert webhook.apply_rules(rules, body).description == '{\n  "a": [\n    1\n  ],\n  "é": "✓"\n}'


def test_only_the_description_may_be_an_object():
    rules = check(dedup_key="$.monitor")
    with pytest.raises(webhook.Unmappable) as caught:
        webhook.apply_rules(rules, {"monitor": {"name": "x", "id": 1}})
    assert caught.value.errors == [
        {"field": "dedup_key", "selector": "$.monitor", "message": "selects an object, not a value; select inside it."}
    ]


def test_a_missing_title_is_said_beside_another_fields_problem():
    rules = check(service="$.s")
    with pytest.raises(webhook.Unmappable) as caught:
        webhook.apply_rules(rules, {"s": {}, "monitor": {"id": 1}})
    assert [e["field"] for e in caught.value.errors] == ["service", "title"]
