"""services.validation on its own: phones, emails, handles, documents and custom fields, no database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from db.models import ChannelKind, CheckDigit, CustomFieldDefinition
from services.errors import DomainError
from services.validation import (
    check_document,
    normalise_channel,
    normalise_document_number,
    normalise_email,
    normalise_handle,
    normalise_phone,
    validate_custom_fields,
)


def problems_of(call: Callable[[], object]) -> list[tuple[str | None, str, str]]:
    with pytest.raises(DomainError) as error:
        call()
    return [(p.field, p.code.value, p.message) for p in error.value.problems]


def codes_of(call: Callable[[], object]) -> list[tuple[str | None, str]]:
    return [(f, code) for f, code, _ in problems_of(call)]


class TestPhones:
    @pytest.mark.parametrize(
        "typed",
        ["+54 9 11 4444-5555", "011 15-4444-5555", "(011) 15 4444-5555", "9 11 4444 5555", "+54 11 15 4444 5555"],
    )
    def test_argentine_mobile_forms_agree(self, typed: str) -> None:
        # The international "9" and the national "0 … 15" both mark a mobile; phonenumbers
        # turns either into +54 9 <area> <number>.
        assert normalise_phone(typed, default_region="AR", field="f") == "+5491144445555"

    def test_ten_digits_without_9_or_15_are_a_fixed_line(self) -> None:
        # Not the mobile above: without a 9 or a 15 the same ten digits are a valid landline.
        assert normalise_phone("1144445555", default_region="AR", field="f") == "+541144445555"
        assert normalise_phone("+54 11 4444-5555", default_region="AR", field="f") == "+541144445555"

    def test_mobile_outside_buenos_aires(self) -> None:
        assert normalise_phone("0351 15-555-1234", default_region="AR", field="f") == "+5493515551234"

    def test_default_region_applies_only_without_plus(self) -> None:
        assert normalise_phone("987 654 321", default_region="PE", field="f") == "+51987654321"
        assert normalise_phone("+1 650 253 0000", default_region="AR", field="f") == "+16502530000"

    def test_region_case_does_not_matter(self) -> None:
        assert normalise_phone("011 15-4444-5555", default_region="ar", field="f") == "+5491144445555"

    @pytest.mark.parametrize("typed", ["", "hola", "12", "+54 11", "15-4444-5555", "+54 15 4444 5555"])
    def test_refused(self, typed: str) -> None:
        assert codes_of(lambda: normalise_phone(typed, default_region="AR", field="phone")) == [("phone", "INVALID")]


class TestEmails:
    @pytest.mark.parametrize(
        ("typed", "normalized"),
        [
            ("  Ana.Perez@Example.COM ", "Ana.Perez@example.com"),
            ("ana@EXÁMPLE.com", "ana@exámple.com"),
        ],
    )
    def test_domain_lower_cased_local_part_kept(self, typed: str, normalized: str) -> None:
        assert normalise_email(typed, field="f") == normalized

    @pytest.mark.parametrize("typed", ["ana@", "ana", "ana@@example.com", "ana perez@example.com", ""])
    def test_refused(self, typed: str) -> None:
        [(f, code, message)] = problems_of(lambda: normalise_email(typed, field="email"))
        assert (f, code) == ("email", "INVALID")
        assert message.startswith("Not a valid email address")


class TestHandles:
    @pytest.mark.parametrize(
        ("typed", "handle"),
        [
            ("Ana.Perez_", "ana.perez_"),
            ("@Ana.Perez_", "ana.perez_"),
            (" https://instagram.com/ana.perez ", "ana.perez"),
            ("https://www.instagram.com/Ana.Perez/?hl=es", "ana.perez"),
            ("instagram.com/ana.perez/", "ana.perez"),
            ("a", "a"),
            ("a" * 30, "a" * 30),
        ],
    )
    def test_instagram(self, typed: str, handle: str) -> None:
        assert normalise_handle(ChannelKind.INSTAGRAM, typed, field="f") == handle

    @pytest.mark.parametrize(
        "typed", ["", "@", "a" * 31, "ana-perez", "ana perez", "@@ana", "https://m.me/ana.perez", "anä"]
    )
    def test_instagram_refused(self, typed: str) -> None:
        assert codes_of(lambda: normalise_handle(ChannelKind.INSTAGRAM, typed, field="h")) == [("h", "INVALID")]

    @pytest.mark.parametrize(
        ("typed", "handle"),
        [
            ("Ana.Perez", "ana.perez"),
            ("https://m.me/Ana.Perez", "ana.perez"),
            ("m.me/ana.perez", "ana.perez"),
            ("https://www.facebook.com/ana.perez/", "ana.perez"),
            ("facebook.com/ana.perez", "ana.perez"),
            ("100012345678901", "100012345678901"),
            ("a" * 50, "a" * 50),
        ],
    )
    def test_messenger(self, typed: str, handle: str) -> None:
        assert normalise_handle(ChannelKind.MESSENGER, typed, field="f") == handle

    @pytest.mark.parametrize(
        "typed", ["ana", "a" * 51, "ana_perez", "https://instagram.com/ana.perez", "١٢٣٤٥٦٧", "ana perez"]
    )
    def test_messenger_refused(self, typed: str) -> None:
        assert codes_of(lambda: normalise_handle(ChannelKind.MESSENGER, typed, field="h")) == [("h", "INVALID")]

    def test_only_handle_channels(self) -> None:
        with pytest.raises(ValueError):
            normalise_handle(ChannelKind.EMAIL, "ana@example.com", field="f")


class TestChannels:
    @pytest.mark.parametrize(
        ("kind", "typed", "normalized"),
        [
            (ChannelKind.PHONE, "011 15-4444-5555", "+5491144445555"),
            (ChannelKind.WHATSAPP, "+54 9 11 4444-5555", "+5491144445555"),
            (ChannelKind.EMAIL, "Ana@Example.com", "ana@example.com"),
            (ChannelKind.INSTAGRAM, "@Ana", "ana"),
            (ChannelKind.MESSENGER, "m.me/Ana.Perez", "ana.perez"),
        ],
    )
    def test_dispatch(self, kind: ChannelKind, typed: str, normalized: str) -> None:
        assert normalise_channel(kind, typed, default_region="AR", field="f") == normalized

    @pytest.mark.parametrize("kind", list(ChannelKind))
    @pytest.mark.parametrize("typed", ["", " \t "])
    def test_blank_is_required(self, kind: ChannelKind, typed: str) -> None:
        call = lambda: normalise_channel(kind, typed, default_region="AR", field="channels[1].value")  # noqa: E731
        assert codes_of(call) == [("channels[1].value", "REQUIRED")]

    @pytest.mark.parametrize(
        ("kind", "typed"),
        [
            (ChannelKind.PHONE, "ana@example.com"),
            (ChannelKind.WHATSAPP, "12"),
            (ChannelKind.EMAIL, "+5491144445555"),
            (ChannelKind.INSTAGRAM, "ana perez"),
            (ChannelKind.MESSENGER, "ab"),
        ],
    )
    def test_wrong_kind_of_value(self, kind: ChannelKind, typed: str) -> None:
        call = lambda: normalise_channel(kind, typed, default_region="AR", field="f")  # noqa: E731
        assert codes_of(call) == [("f", "INVALID")]


class TestDocumentNumbers:
    @pytest.mark.parametrize(
        ("raw", "number"),
        [
            (" 20-12.345.678/6 ", "20123456786"),
            ("76.086.428-k", "76086428K"),
            ("ab\t123\n456", "AB123456"),
            ("", ""),
        ],
    )
    def test_normalised(self, raw: str, number: str) -> None:
        assert normalise_document_number(raw) == number


# The shipped formats (migration 0002).
CUIT = ("CUIT", r"(20|23|24|27|30|33|34)\d{9}", CheckDigit.CUIT)
CUIL = ("CUIL", r"(20|23|24|27)\d{9}", CheckDigit.CUIT)
RUC = ("RUC", r"(10|15|16|17|20)\d{9}", CheckDigit.RUC_PE)
CPF = ("CPF", r"\d{11}", CheckDigit.CPF)
CI_UY = ("CI_UY", r"\d{7,8}", CheckDigit.CI_UY)
RUT = ("RUT", r"\d{7,8}[0-9K]", CheckDigit.RUT_CL)
DNI = ("DNI", r"\d{7,8}", CheckDigit.NONE)
PASSPORT = ("PASSPORT", r"[A-Z0-9]{6,12}", CheckDigit.NONE)
DocType = tuple[str, str, CheckDigit]


def check(kind: DocType, raw: str) -> None:
    code, regex, rule = kind
    check_document(normalise_document_number(raw), type_code=code, regex=regex, rule=rule, field="document.number")


class TestDocuments:
    @pytest.mark.parametrize(
        ("kind", "raw"),
        [
            (CUIT, "20-12345678-6"),
            (CUIT, "33-69345023-9"),  # AFIP
            (CUIT, "30-54668997-9"),  # YPF
            (CUIT, "30-50001091-2"),  # Banco de la Nación Argentina
            (CUIT, "27-12345678-0"),  # 11 - sum % 11 == 11 gives 0
            (CUIL, "20-30123456-3"),
            (RUC, "20131312955"),  # SUNAT
            (RUC, "20100047218"),  # Banco de Crédito del Perú
            (RUC, "20100070970"),  # 11 - sum % 11 == 10 gives 0
            (RUC, "20100000131"),  # 11 - sum % 11 == 11 gives 1
            (RUC, "10461234564"),
            (CPF, "529.982.247-25"),
            (CPF, "111.444.777-35"),
            (CPF, "123.456.789-09"),
            (CPF, "987.654.321-00"),
            (CI_UY, "1.234.567-2"),
            (CI_UY, "4.632.574-3"),
            (CI_UY, "1.111.111-1"),
            (CI_UY, "123.456-1"),  # seven digits: the body is padded to 0.123.456
            (RUT, "76.086.428-5"),
            (RUT, "11.111.111-1"),
            (RUT, "12.345.678-5"),
            (RUT, "10.000.013-K"),
            (RUT, "10.000.013-k"),
            (RUT, "10.000.004-0"),  # 11 - sum % 11 == 11 gives 0
            (RUT, "5.126.663-3"),
            (DNI, "30.123.456"),
            (PASSPORT, "aab123456"),
        ],
    )
    def test_valid(self, kind: DocType, raw: str) -> None:
        check(kind, raw)

    @pytest.mark.parametrize(
        ("kind", "raw"),
        [
            (CUIT, "20-12345678-0"),
            (CUIT, "20-12345678-7"),
            (CUIT, "33-69345023-8"),
            (CUIL, "20-30123456-4"),
            (RUC, "20131312954"),
            (RUC, "20100070971"),
            (RUC, "20100000130"),
            (CPF, "529.982.247-26"),  # second digit
            (CPF, "529.982.247-35"),  # first digit
            (CPF, "111.111.111-11"),  # one digit repeated passes the sums but is not issued
            (CPF, "000.000.000-00"),
            (CI_UY, "1.234.567-3"),
            (CI_UY, "123.456-2"),
            (RUT, "76.086.428-K"),
            (RUT, "12.345.678-0"),
            (RUT, "10.000.013-0"),
        ],
    )
    def test_wrong_check_digit(self, kind: DocType, raw: str) -> None:
        assert problems_of(lambda: check(kind, raw)) == [
            ("document.number", "INVALID", f"The check digit of this {kind[0]} is wrong")
        ]

    @pytest.mark.parametrize("last", "0123456789")
    def test_cuit_whose_check_would_be_10_is_never_valid(self, last: str) -> None:
        # 23-40123456: 11 - sum % 11 is 10, a value AFIP does not issue.
        assert codes_of(lambda: check(CUIL, f"23-40123456-{last}")) == [("document.number", "INVALID")]

    @pytest.mark.parametrize(
        ("kind", "raw"),
        [
            (CUIT, "21-12345678-6"),  # no such prefix
            (CUIL, "30-54668997-9"),  # a company CUIT is not a CUIL
            (CUIT, "20-1234567-6"),
            (RUC, "30131312955"),
            (CPF, "529.982.247-2"),
            (CI_UY, "12.345.678-9"),
            (RUT, "76.086.428-X"),
            (DNI, "12-AB"),
            (DNI, "123456"),
            (PASSPORT, "AB-12"),
            (CPF, "٥٢٩٩٨٢٢٤٧٢٥"),  # 52998224725 in Arabic-Indic digits: \d alone would take them
            (DNI, "\uff13\uff10\uff11\uff12\uff13\uff14\uff15\uff16"),  # fullwidth 30123456
        ],
    )
    def test_wrong_format(self, kind: DocType, raw: str) -> None:
        assert problems_of(lambda: check(kind, raw)) == [
            ("document.number", "INVALID", f"Does not match the {kind[0]} format")
        ]

    def test_none_checks_nothing_beyond_the_format(self) -> None:
        check_document("1", type_code="X", regex=r"\d+", rule=CheckDigit.NONE, field="f")

    @pytest.mark.parametrize(
        "rule", [CheckDigit.CUIT, CheckDigit.RUC_PE, CheckDigit.CPF, CheckDigit.CI_UY, CheckDigit.RUT_CL]
    )
    @pytest.mark.parametrize("number", ["", "K", "ABC"])
    def test_loose_custom_format_still_gets_a_clean_answer(self, rule: CheckDigit, number: str) -> None:
        # An admin-defined format may let through what the arithmetic cannot read.
        call = lambda: check_document(number, type_code="X", regex=r"\w*", rule=rule, field="f")  # noqa: E731
        assert codes_of(call) == [("f", "INVALID")]


@dataclass
class Definition:
    key: str
    type: str
    required: bool = False
    options: list[str] = field(default_factory=list)
    active: bool = True
    label: str = ""

    def __post_init__(self) -> None:
        self.label = self.label or self.key.title()


DEFINITIONS = [
    Definition("plan", "CHOICE", required=True, options=["Oro", "Plata"], label="Plan"),
    Definition("deuda", "NUMBER"),
    Definition("alta", "DATE"),
    Definition("moroso", "BOOLEAN"),
    Definition("nota", "TEXT"),
    Definition("viejo", "TEXT", active=False),
    Definition("legajo", "TEXT", required=True, active=False),
]


def clean(values: dict[str, object], *, require_all: bool = False) -> dict[str, object]:
    return validate_custom_fields(values, DEFINITIONS, require_all=require_all)


def refused(values: dict[str, object], *, require_all: bool = False) -> list[tuple[str | None, str]]:
    return codes_of(lambda: clean(values, require_all=require_all))


class TestCustomFieldValues:
    @pytest.mark.parametrize(
        ("typed", "stored"),
        [
            ("  hola  ", "hola"),
            ("x" * 1000, "x" * 1000),
            (" " + "x" * 1000 + " ", "x" * 1000),
        ],
    )
    def test_text(self, typed: str, stored: str) -> None:
        assert clean({"nota": typed}) == {"nota": stored}

    @pytest.mark.parametrize(
        ("typed", "code"), [("x" * 1001, "TOO_LONG"), (12, "INVALID"), (["a"], "INVALID"), ("a\x00b", "INVALID")]
    )
    def test_text_refused(self, typed: object, code: str) -> None:
        assert refused({"nota": typed}) == [("customFields.nota", code)]

    @pytest.mark.parametrize(
        ("typed", "stored"),
        [
            (42, 42),
            (-7, -7),
            (1.5, 1.5),
            (2.0, 2),
            ("12", 12),
            (" -3.25 ", -3.25),
            ("+.5", 0.5),
            ("1500.50", 1500.5),
            ("1e3", 1000),
            ("12345678901234567890", 12345678901234567890),  # every digit kept
            (12345678901234567890, 12345678901234567890),
            (1e300, 1e300),  # integral, but its digits are the float's: it stays a float
        ],
    )
    def test_number(self, typed: object, stored: float) -> None:
        cleaned = clean({"deuda": typed})["deuda"]
        assert cleaned == stored
        assert type(cleaned) is type(stored)

    @pytest.mark.parametrize(
        "typed",
        [
            True,
            False,
            float("nan"),
            float("inf"),
            -float("inf"),
            [1],
            {"v": 1},
            "mucho",
            "nan",
            "inf",
            "1e400",
            "1,5",
            "1_000",
            "0x10",
            "١٢",
        ],
    )
    def test_number_refused(self, typed: object) -> None:
        assert refused({"deuda": typed}) == [("customFields.deuda", "INVALID")]

    @pytest.mark.parametrize(("typed", "stored"), [("2026-11-01", "2026-11-01"), (" 2024-02-29 ", "2024-02-29")])
    def test_date(self, typed: str, stored: str) -> None:
        assert clean({"alta": typed}) == {"alta": stored}

    @pytest.mark.parametrize(
        "typed", ["01/11/2026", "20261101", "2026-W01-1", "2026-1-1", "2025-02-29", "2026-13-01", 20261101, True]
    )
    def test_date_refused(self, typed: object) -> None:
        assert refused({"alta": typed}) == [("customFields.alta", "INVALID")]

    @pytest.mark.parametrize("typed", [True, False])
    def test_boolean(self, typed: bool) -> None:
        assert clean({"moroso": typed}) == {"moroso": typed}

    @pytest.mark.parametrize("typed", ["true", "sí", 1, 0])
    def test_boolean_refused(self, typed: object) -> None:
        assert refused({"moroso": typed}) == [("customFields.moroso", "INVALID")]

    @pytest.mark.parametrize(("typed", "stored"), [("Oro", "Oro"), (" Plata ", "Plata")])
    def test_choice(self, typed: str, stored: str) -> None:
        assert clean({"plan": typed}) == {"plan": stored}

    @pytest.mark.parametrize("typed", ["oro", "Bronce", 1, ["Oro"]])
    def test_choice_refused(self, typed: object) -> None:
        [(f, code, message)] = problems_of(lambda: clean({"plan": typed}))
        assert (f, code, message) == ("customFields.plan", "INVALID", "Must be one of: Oro, Plata")


class TestCustomFieldSets:
    def test_create_with_every_type(self) -> None:
        values = {"plan": "Oro", "deuda": "1500.50", "alta": "2026-11-01", "moroso": True, "nota": "  hola  "}
        assert clean(values, require_all=True) == {
            "plan": "Oro",
            "deuda": 1500.5,
            "alta": "2026-11-01",
            "moroso": True,
            "nota": "hola",
        }

    def test_create_needs_every_active_required_field(self) -> None:
        # "legajo" is required but inactive: nobody can fill it in, so nobody must.
        assert refused({"nota": "x"}, require_all=True) == [("customFields.plan", "REQUIRED")]

    def test_update_may_leave_required_fields_out(self) -> None:
        assert clean({"nota": "x"}) == {"nota": "x"}

    @pytest.mark.parametrize("empty", [None, "", "  "])
    def test_clearing_an_optional_field_keeps_the_key(self, empty: object) -> None:
        assert clean({"nota": empty, "deuda": empty, "moroso": None}) == {"nota": None, "deuda": None, "moroso": None}

    @pytest.mark.parametrize("require_all", [True, False])
    @pytest.mark.parametrize("empty", [None, "", "  "])
    def test_a_required_field_cannot_be_cleared(self, empty: object, require_all: bool) -> None:
        [(f, code, message)] = problems_of(lambda: clean({"plan": empty}, require_all=require_all))
        assert (f, code, message) == ("customFields.plan", "REQUIRED", "Plan is required")

    @pytest.mark.parametrize("key", ["otro", "viejo", "legajo", "Plan"])
    @pytest.mark.parametrize("value", ["x", None])
    def test_unknown_or_inactive_keys(self, key: str, value: object) -> None:
        assert refused({key: value}) == [(f"customFields.{key}", "INVALID")]

    def test_every_problem_at_once(self) -> None:
        values = {"deuda": "mucho", "alta": "01/11/2026", "moroso": "sí", "viejo": "x", "otro": 1, "nota": "ok"}
        assert sorted(refused(values, require_all=True)) == [
            ("customFields.alta", "INVALID"),
            ("customFields.deuda", "INVALID"),
            ("customFields.moroso", "INVALID"),
            ("customFields.otro", "INVALID"),
            ("customFields.plan", "REQUIRED"),
            ("customFields.viejo", "INVALID"),
        ]

    def test_field_prefix_is_the_callers(self) -> None:
        call = lambda: validate_custom_fields(  # noqa: E731
            {"deuda": "x"}, DEFINITIONS, require_all=True, field="contacts[3].customFields"
        )
        assert sorted(codes_of(call)) == [
            ("contacts[3].customFields.deuda", "INVALID"),
            ("contacts[3].customFields.plan", "REQUIRED"),
        ]

    def test_nothing_given_nothing_required(self) -> None:
        assert validate_custom_fields({}, [], require_all=True) == {}

    def test_accepts_the_model_itself(self) -> None:
        definitions = [
            CustomFieldDefinition(key="segmento", label="Segmento", type="CHOICE", options=["A", "B"], required=True)
        ]
        definitions[0].active = True  # column defaults apply on insert only
        assert validate_custom_fields({"segmento": "B"}, definitions, require_all=True) == {"segmento": "B"}
        assert codes_of(lambda: validate_custom_fields({}, definitions, require_all=True)) == [
            ("customFields.segmento", "REQUIRED")
        ]
