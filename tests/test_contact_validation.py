"""Field rules of contacts (C1, C6, C7) on known real-world numbers, without the database."""

from dataclasses import dataclass, field

import pytest

from db.models import ChannelKind, CheckDigit
from services.errors import DomainError
from services.validation import (
    check_document,
    normalise_channel,
    normalise_document_number,
    normalise_phone,
    validate_custom_fields,
)


def problems(error: pytest.ExceptionInfo[DomainError]) -> list[tuple[str | None, str]]:
    return [(p.field, p.code.value) for p in error.value.problems]


class TestPhones:
    @pytest.mark.parametrize("typed", ["+54 9 11 4444-5555", "011 15-4444-5555", "+5491144445555"])
    def test_argentine_mobile_in_every_usual_form(self, typed: str) -> None:
        # phonenumbers folds the mobile "9" after +54 and the national "0 … 15" into one number.
        assert normalise_phone(typed, default_region="AR", field="f") == "+5491144445555"

    def test_without_mobile_prefix_it_is_a_landline(self) -> None:
        # Search still finds either form by its digits (1144445555 is inside both).
        assert normalise_phone("11 4444 5555", default_region="AR", field="f") == "+541144445555"

    def test_other_countries_keep_their_code(self) -> None:
        assert normalise_phone("+51 987 654 321", default_region="AR", field="f") == "+51987654321"

    @pytest.mark.parametrize("typed", ["12", "hola", "+54 11"])
    def test_not_a_number(self, typed: str) -> None:
        with pytest.raises(DomainError) as error:
            normalise_phone(typed, default_region="AR", field="channels[0].value")
        assert problems(error) == [("channels[0].value", "INVALID")]


class TestChannels:
    @pytest.mark.parametrize(
        ("kind", "typed", "normalized"),
        [
            (ChannelKind.EMAIL, "Ana.Perez@Example.COM", "Ana.Perez@example.com"),
            (ChannelKind.INSTAGRAM, "@Ana.Perez_", "ana.perez_"),
            (ChannelKind.INSTAGRAM, "https://instagram.com/ana.perez", "ana.perez"),
            (ChannelKind.MESSENGER, "https://m.me/ana.perez", "ana.perez"),
            (ChannelKind.WHATSAPP, "+54 9 351 555-1234", "+5493515551234"),
        ],
    )
    def test_normalised(self, kind: ChannelKind, typed: str, normalized: str) -> None:
        assert normalise_channel(kind, typed, default_region="AR", field="f") == normalized

    @pytest.mark.parametrize(
        ("kind", "typed", "code"),
        [
            (ChannelKind.EMAIL, "ana@", "INVALID"),
            (ChannelKind.INSTAGRAM, "ana perez", "INVALID"),
            (ChannelKind.PHONE, "   ", "REQUIRED"),
        ],
    )
    def test_refused(self, kind: ChannelKind, typed: str, code: str) -> None:
        with pytest.raises(DomainError) as error:
            normalise_channel(kind, typed, default_region="AR", field="f")
        assert problems(error) == [("f", code)]


class TestDocuments:
    @pytest.mark.parametrize(
        ("code", "regex", "rule", "number"),
        [
            ("CUIT", r"(20|23|24|27|30|33|34)\d{9}", CheckDigit.CUIT, "20-12345678-6"),
            ("CUIT", r"(20|23|24|27|30|33|34)\d{9}", CheckDigit.CUIT, "33-69345023-9"),
            ("CPF", r"\d{11}", CheckDigit.CPF, "529.982.247-25"),
            ("RUC", r"(10|15|16|17|20)\d{9}", CheckDigit.RUC_PE, "20131312955"),
            ("RUT", r"\d{7,8}[0-9K]", CheckDigit.RUT_CL, "76.086.428-5"),
            ("RUT", r"\d{7,8}[0-9K]", CheckDigit.RUT_CL, "11.111.111-1"),
            ("CI_UY", r"\d{7,8}", CheckDigit.CI_UY, "1.234.567-2"),
            ("DNI", r"\d{7,8}", CheckDigit.NONE, "30.123.456"),
        ],
    )
    def test_valid(self, code: str, regex: str, rule: CheckDigit, number: str) -> None:
        check_document(normalise_document_number(number), type_code=code, regex=regex, rule=rule, field="f")

    @pytest.mark.parametrize(
        ("code", "regex", "rule", "number", "message"),
        [
            ("CUIT", r"(20|23|24|27|30|33|34)\d{9}", CheckDigit.CUIT, "20-12345678-0", "check digit"),
            ("CPF", r"\d{11}", CheckDigit.CPF, "529.982.247-26", "check digit"),
            ("CPF", r"\d{11}", CheckDigit.CPF, "111.111.111-11", "check digit"),
            ("RUC", r"(10|15|16|17|20)\d{9}", CheckDigit.RUC_PE, "20131312954", "check digit"),
            ("RUT", r"\d{7,8}[0-9K]", CheckDigit.RUT_CL, "76.086.428-K", "check digit"),
            ("CI_UY", r"\d{7,8}", CheckDigit.CI_UY, "1.234.567-3", "check digit"),
            ("DNI", r"\d{7,8}", CheckDigit.NONE, "12-AB", "format"),
        ],
    )
    def test_invalid(self, code: str, regex: str, rule: CheckDigit, number: str, message: str) -> None:
        with pytest.raises(DomainError) as error:
            check_document(normalise_document_number(number), type_code=code, regex=regex, rule=rule, field="doc")
        assert problems(error) == [("doc", "INVALID")]
        assert message in error.value.problems[0].message


@dataclass
class Definition:
    key: str
    type: str
    required: bool = False
    options: list[str] = field(default_factory=list)
    active: bool = True

    @property
    def label(self) -> str:
        return self.key.title()


DEFINITIONS = [
    Definition("plan", "CHOICE", required=True, options=["Oro", "Plata"]),
    Definition("deuda", "NUMBER"),
    Definition("alta", "DATE"),
    Definition("moroso", "BOOLEAN"),
    Definition("nota", "TEXT"),
    Definition("viejo", "TEXT", active=False),
]


class TestCustomFields:
    def test_cleans_each_type(self) -> None:
        values = {"plan": "Oro", "deuda": "1500.50", "alta": "2026-11-01", "moroso": True, "nota": "  hola  "}
        assert validate_custom_fields(values, DEFINITIONS, require_all=True) == {
            "plan": "Oro",
            "deuda": 1500.5,
            "alta": "2026-11-01",
            "moroso": True,
            "nota": "hola",
        }

    def test_every_problem_at_once(self) -> None:
        values = {"deuda": "mucho", "alta": "01/11/2026", "moroso": "sí", "viejo": "x", "otro": 1}
        with pytest.raises(DomainError) as error:
            validate_custom_fields(values, DEFINITIONS, require_all=True)
        assert sorted(problems(error)) == [
            ("customFields.alta", "INVALID"),
            ("customFields.deuda", "INVALID"),
            ("customFields.moroso", "INVALID"),
            ("customFields.otro", "INVALID"),
            ("customFields.plan", "REQUIRED"),
            ("customFields.viejo", "INVALID"),
        ]

    def test_partial_updates_may_clear_optional_fields_only(self) -> None:
        assert validate_custom_fields({"nota": None}, DEFINITIONS, require_all=False) == {"nota": None}
        with pytest.raises(DomainError) as error:
            validate_custom_fields({"plan": None}, DEFINITIONS, require_all=False)
        assert problems(error) == [("customFields.plan", "REQUIRED")]

    @pytest.mark.parametrize("value", [True, float("nan"), float("inf"), [1]])
    def test_numbers_are_numbers(self, value: object) -> None:
        with pytest.raises(DomainError):
            validate_custom_fields({"deuda": value}, DEFINITIONS, require_all=False)
