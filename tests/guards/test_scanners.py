"""Pattern scanners (hygiene, secrets, custom entities) and the presidio PII scanner, as tables of cases."""

from __future__ import annotations

import pytest

from guards import PolicyError
from guards.scanners.addresses import STREET_ADDRESS
from guards.scanners.base import ScanContext
from guards.scanners.custom import CustomEntity, parse_custom_entities
from guards.scanners.hygiene import HygieneScanner
from guards.scanners.names import PERSON_CUES
from guards.scanners.patterns import PatternScanner
from guards.scanners.pii import PiiScanner, deduplicated, without_shadowed
from guards.scanners.secrets import SecretsScanner
from guards.types import Finding

CTX = ScanContext()


def _found(entity: CustomEntity, text: str) -> list[str]:
    """The text of every match of a custom entity."""
    return [text[f.start : f.end] for f in entity.find(text) if f.start is not None]


def _labels(scanner: object, text: str) -> set[str]:
    return {f.label for f in scanner.scan(text, CTX).findings}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("plain text, nothing hidden", set()),
        ("zero\u200bwidth", {"INVISIBLE_CHAR"}),
        ("tag smuggling \U000e0049\U000e0067\U000e006e", {"INVISIBLE_CHAR"}),
        ("reversed \u202etxt.exe", {"BIDI_CONTROL"}),
        ("nul\x00byte and bell\x07", {"CONTROL_CHAR"}),
        ("broken \ufffd bytes", {"INVALID_UTF8"}),
        ("tabs\tand\nnewlines are fine\r\n", set()),
        (
            "emoji need their joiners: \U0001f468\u200d\U0001f469\u200d\U0001f467 \u2764\ufe0f "
            "\U0001f44d\U0001f3fd 1\ufe0f\u20e3",
            set(),
        ),
        ("a joiner between letters\u200dis not an emoji's", {"INVISIBLE_CHAR"}),
        ("a selector after a letter x\ufe0f is hidden", {"INVISIBLE_CHAR"}),
    ],
)
def test_hygiene_labels(text: str, labels: set[str]) -> None:
    assert _labels(HygieneScanner("h"), text) == labels


def test_hygiene_oversize_has_no_span_and_reports_length() -> None:
    verdict = HygieneScanner("h", {"max_chars": 10}).scan("x" * 11, CTX)
    assert [(f.label, f.start) for f in verdict.findings] == [("OVERSIZE", None)]
    assert verdict.findings[0].detail["length"] == 11


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("key AKIAIOSFODNN7EXAMPLE here", "AWS_ACCESS_KEY"),
        ("token ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "GITHUB_TOKEN"),
        ("slack xoxb-123456789012-abcdefghijklmnop", "SLACK_TOKEN"),
        ("stripe sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "STRIPE_KEY"),
        ("google AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY", "GOOGLE_API_KEY"),
        ("openai sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z", "OPENAI_API_KEY"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "JWT"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----", "PRIVATE_KEY"),
        ("db postgresql://app:Tr0ub4dor&3@db.example.com:5432/main", "CONNECTION_PASSWORD"),
        ("password = Zx9!kQ2#mP", "PASSWORD"),
        ("Authorization: Bearer abcDEF123456ghiJKL789mno", "BEARER_TOKEN"),
        ("blob Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MEFCQ0RFRkdISUpL", "HIGH_ENTROPY_STRING"),
    ],
)
def test_secrets_found(text: str, label: str) -> None:
    assert label in _labels(SecretsScanner("s"), text)


@pytest.mark.parametrize(
    "text",
    [
        "The password policy requires twelve characters.",
        "Visit https://docs.python.org/3/library/secrets.html for details",
        "supercalifragilisticexpialidocious is a long word",
        "sha id 0123456789abcdef0123456789abcdef",
    ],
)
def test_secrets_not_found_in_ordinary_text(text: str) -> None:
    assert _labels(SecretsScanner("s"), text) == set()


def test_secret_span_covers_only_the_secret() -> None:
    text = "postgres://admin:hunter2hunter2@db/x"
    finding = SecretsScanner("s").scan(text, CTX).findings[0]
    assert text[finding.start : finding.end] == "hunter2hunter2"


def test_custom_entities_with_context_boost_and_deny_list() -> None:
    scanner = PatternScanner(
        "r",
        {
            "entities": [
                {
                    "label": "EMPLOYEE_ID",
                    "patterns": [{"regex": r"\bEMP-\d{6}\b", "score": 0.5}],
                    "context": ["employee"],
                },
                {"label": "PROJECT", "deny_list": ["Bluebird", "Night Jar"]},
            ]
        },
    )
    plain = scanner.scan("ticket EMP-123456", CTX).findings[0]
    boosted = scanner.scan("employee EMP-123456", CTX).findings[0]
    assert plain.score == pytest.approx(0.5) and boosted.score > plain.score
    assert boosted.detail["context"] == ["employee"]
    assert _labels(scanner, "about project night jar and bluebirds") == {"PROJECT"}


@pytest.mark.parametrize(
    "entities",
    [
        [{"label": "X", "patterns": ["("]}],
        [{"label": "X"}],
        [{"label": "X", "patterns": [{"regex": "a", "score": 3}]}],
        [{"label": "X", "regexes": ["a"]}],
        ["X"],
        [{"label": "X", "patterns": r"\d+"}],  # a string, not a list: it was compiled character by character
        [{"label": "X", "patterns": [{"regex": "a", "scroe": 0.9}]}],
        [{"label": "X", "patterns": [{"regex": "a", "score": True}]}],
        [{"label": "X", "patterns": ["a"], "case_sensitive": "yes"}],
        [{"label": "X", "patterns": ["a"], "context": "employee"}],
        [{"label": "X", "deny_list": "secret"}],
        [{"label": "X", "deny_list": ["secret", ""]}],
        [{"label": "X", "deny_list": ["secret"], "score": 2}],
    ],
)
def test_bad_custom_entities_are_policy_errors(entities: list[dict[str, object]]) -> None:
    with pytest.raises(PolicyError, match=r"scanner 'r': params.entities\[0\]"):
        PatternScanner("r", {"entities": entities}).validate()


def test_a_deny_list_of_numbers_matches_them_as_words() -> None:
    scanner = PatternScanner("r", {"entities": [{"label": "CUSTOMER", "deny_list": [12345], "score": 0.9}]})
    scanner.validate()
    assert [(f.label, f.score) for f in scanner.scan("customer 12345, not 123456", CTX).findings] == [("CUSTOMER", 0.9)]


@pytest.fixture(scope="module")
def pii() -> PiiScanner:
    scanner = PiiScanner("pii", {"custom": [{"label": "MRN", "patterns": [r"\bMRN\d{6}\b"]}]})
    scanner.warmup()
    return scanner


@pytest.mark.parametrize(
    ("text", "value", "label"),
    [
        ("Please email jane.doe@example.com today", "jane.doe@example.com", "EMAIL_ADDRESS"),
        ("My card is 4111 1111 1111 1111", "4111 1111 1111 1111", "CREDIT_CARD"),
        ("I am John Smith from accounting", "John Smith", "PERSON"),
        ("IBAN GB82 WEST 1234 5698 7654 32 please", "GB82 WEST 1234 5698 7654 32", "IBAN_CODE"),
        ("server at 192.168.14.22 is down", "192.168.14.22", "IP_ADDRESS"),
        ("patient MRN123456 admitted", "MRN123456", "MRN"),
    ],
)
def test_pii_scanner_finds_values(pii: PiiScanner, text: str, value: str, label: str) -> None:
    found = {(text[f.start : f.end], f.label) for f in pii.scan(text, CTX).findings if f.start is not None}
    assert (value, label) in found


def test_pii_findings_explain_without_the_value(pii: PiiScanner) -> None:
    finding = next(f for f in pii.scan("email me: bob@example.org", CTX).findings if f.label == "EMAIL_ADDRESS")
    assert finding.detail["recognizer"] == "EmailRecognizer"
    assert "bob@example.org" not in str(finding.detail)


def test_pii_allow_list(pii: PiiScanner) -> None:
    scanner = PiiScanner("pii", {"allow_list": ["support@example.com"]})
    assert "EMAIL_ADDRESS" not in _labels(scanner, "write to support@example.com")


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("Ship it to 221B Baker Street, London", "221B Baker Street"),
        ("We moved to 12 rue de la Paix in Paris", "12 rue de la Paix"),
        ("Send it to Via Roma 12, Milano", "Via Roma 12"),
        ("Meine Adresse: Villacher Strasse 89, Wien", "Villacher Strasse 89"),
        ("Postiosoite: 5049 Harjukuja 54, Seinäjoki", "5049 Harjukuja 54"),
        ("Levélcím: Kálmán Imre u. 12., Budapest", "Kálmán Imre u. 12."),
        ("Adresse: Søndergade 52, 8000 Aarhus", "Søndergade 52"),
        ("Write to P.O. Box 242, Springfield", "P.O. Box 242"),
        ("Mail goes to PSC 0413, Box 8144 APO AA 42323", "PSC 0413, Box 8144 APO AA 42323"),
    ],
)
def test_street_addresses_are_found_whole(text: str, address: str) -> None:
    assert _found(STREET_ADDRESS, text) == [address]


@pytest.mark.parametrize(
    "text",
    [
        "send it via email",
        "the committee 5 meeting",
        "Windows 10 is great",
        "Spring 2024 collection",
        "Chapter 12",
        "Hello World " * 2500,  # capitalised words with no street type: linear with bounded names (quadratic before)
    ],
    ids=lambda text: text[:24],
)
def test_ordinary_text_is_not_an_address(text: str) -> None:
    assert list(STREET_ADDRESS.find(text)) == []


def test_a_loose_finding_inside_a_specific_one_is_dropped(pii: PiiScanner) -> None:
    """presidio reports an e-mail's domain as a URL too; the e-mail address already covers it."""
    text = "write to jane.doe@example.com or call 555-0100"
    assert [(f.label, text[f.start : f.end]) for f in pii.scan(text, CTX).findings if f.label == "URL"] == []
    email, url = Finding("EMAIL_ADDRESS", 1.0, 9, 29), Finding("URL", 0.5, 18, 29)
    assert without_shadowed([email, url]) == [email]
    weak = Finding("STREET_ADDRESS", 0.3, 0, 20)
    date = Finding("DATE_TIME", 0.85, 0, 5)
    assert without_shadowed([weak, date]) == [weak, date]  # only a container scored at least as high shadows
    person = Finding("PERSON", 0.85, 2, 8)
    assert without_shadowed([Finding("STREET_ADDRESS", 1.0, 0, 20), person])[1] == person  # names are kept


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Hi, my name is Camila Castillo and I was charged twice", ["Camila Castillo"]),
        ("Hi, this is Lena Lindqvist. I lost my card.", ["Lena Lindqvist"]),
        ("Please refund it to the same card. Thanks, Ji-yeon Park", ["Ji-yeon Park"]),
        ("Dear Mr. Okafor, your parcel is late.", ["Okafor"]),
        ("Regards,\nAnna K. Berg", ["Anna K. Berg"]),
        ("I am Muslim and I work as a nurse.", []),
        ("Dear Customer, thank you for your order.", []),
        ("The museum said this is New York City.", []),
        ("this is great, thanks!", []),
        ("We ate at the best Pizza Hut", []),
        ("Dear Team. " * 2900, []),  # a long text: every pattern stays linear
    ],
    ids=lambda value: value[:24] if isinstance(value, str) else "",
)
def test_announced_person_names(text: str, names: list[str]) -> None:
    assert _found(PERSON_CUES, text) == names


def test_a_named_value_group_reports_only_the_value() -> None:
    (entity,) = parse_custom_entities([{"label": "MRN", "patterns": [r"\bMRN:?\s*(?P<value>\d{6})\b"]}], "test")
    text = "patient MRN: 123456 admitted"
    assert _found(entity, text) == ["123456"]


def test_the_same_name_from_two_recognisers_is_one_finding(pii: PiiScanner) -> None:
    text = "Hi, my name is John Smith and I need help."
    people = [f for f in pii.scan(text, CTX).findings if f.label == "PERSON"]
    assert [text[f.start : f.end] for f in people if f.start is not None] == ["John Smith"]
    low, high = Finding("PERSON", 0.7, 15, 25), Finding("PERSON", 0.85, 15, 25)
    assert deduplicated([low, high, Finding("URL", 0.5, 0, 3)]) == [high, Finding("URL", 0.5, 0, 3)]


def test_a_span_without_letters_is_not_a_person(pii: PiiScanner) -> None:
    """spaCy sometimes takes an order number for a name."""
    for text in ("I was charged twice for order A-623022.", "Please send the refund for order A-688487 there."):
        people = [text[f.start : f.end] for f in pii.scan(text, CTX).findings if f.label == "PERSON"]
        assert not [p for p in people if not any(c.isalpha() for c in p.replace("A-", ""))], people


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"spacy_model": "en_core_web_nosuch"}, "params.spacy_model 'en_core_web_nosuch' is not installed"),
        ({"entities": [1]}, "params.entities must be a list of strings"),
        ({"allow_list": ["Jane", None]}, "params.allow_list must be a list of strings"),
    ],
)
def test_bad_pii_params_fail_when_the_guard_is_built(params: dict[str, object], message: str) -> None:
    """Each failed every scan instead, which on_error: allow let through (QA: a misspelt spaCy model allowed all)."""
    with pytest.raises(PolicyError, match=f"scanner 'p': {message}"):
        PiiScanner("p", params).validate()
