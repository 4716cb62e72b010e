"""Document formats (C6): admins' patterns run in linear time on bounded numbers, and mean what Python's re means.

A format is an admin's regular expression matched against every document number a client
sends, up to 5,000 in one createContacts, on the event loop. Under a backtracking engine
`(A+)+B` doubles its work with each character of a number that fails it; RE2 matches in time
linear in the number whatever the pattern, and a number has at most 32 characters.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from db.models import Contact, DocumentType, Team, User
from tests.conftest import SHIPPED_DOCUMENT_TYPES, GraphQLClient
from tests.factories import Factory, audit_count, doc_type, person

CREATE_TYPE = """
mutation($input: CreateDocumentTypeInput!) {
  createDocumentType(input: $input) { documentType { id code formatRegex } userErrors { field code message } }
}
"""
UPDATE_TYPE = """
mutation($id: ID!, $input: UpdateDocumentTypeInput!) {
  updateDocumentType(id: $id, input: $input) { documentType { formatRegex } userErrors { field code message } }
}
"""
CREATE_CONTACT = """
mutation($input: CreateContactInput!) {
  createContact(input: $input) { contact { id document { number } } userErrors { field code message } }
}
"""
CREATE_CONTACTS = """
mutation($input: [CreateContactInput!]!) {
  createContacts(input: $input) { createdCount results { index userErrors { field code message } } }
}
"""
DOCUMENT_TYPES = "{ documentTypes { id code formatRegex } }"
# Backtracks exponentially under Python's re on "AAAA…C"; linear under RE2.
CATASTROPHIC = "(A+)+B"
LONGEST_NUMBER = 32


async def create_type(client: GraphQLClient, token: str, code: str, pattern: str) -> dict[str, Any]:
    data = await client.data(CREATE_TYPE, {"input": {"code": code, "name": code, "formatRegex": pattern}}, token)
    result: dict[str, Any] = data["createDocumentType"]
    return result


def documented(team: Team, type_id: str, number: str) -> dict[str, Any]:
    return person(team, document={"typeId": type_id, "number": number})


class TestPatternsAnAdminGives:
    @pytest.mark.parametrize(
        "pattern",
        [
            # Python: OverflowError, which used to be masked; RE2 alone would read it as text.
            "a{99999999999}",
            # Repeats in Python, literal text in RE2.
            "[0-9]{,8}",
            # A backreference and a lookahead need backtracking.
            r"([0-9])\1+",
            "(?=[0-9]{8})[0-9]+",
            # Python warns that this is ambiguous; RE2 reads a POSIX class.
            "[[:digit:]]{8}",
            # More repetition than RE2 compiles.
            "[0-9]{1001}",
            "[0-9",
        ],
        ids=["huge-repetition", "open-repetition", "backreference", "lookahead", "posix-class", "too-big", "syntax"],
    )
    async def test_a_pattern_the_engine_cannot_run_is_invalid_and_nothing_is_written(
        self, client: GraphQLClient, factory: Factory, admin: User, pattern: str
    ) -> None:
        before = await factory.count(DocumentType)
        result = await create_type(client, factory.token(admin), "LC", pattern)
        assert result["documentType"] is None
        [error] = result["userErrors"]
        assert error["code"] == "INVALID"
        assert error["field"] == "input.formatRegex"
        assert await factory.count(DocumentType) == before
        assert await factory.audit_rows() == []

    async def test_update_to_a_pattern_the_engine_cannot_run_changes_nothing(
        self, client: GraphQLClient, factory: Factory, admin: User
    ) -> None:
        token = factory.token(admin)
        created = await create_type(client, token, "LC", "[0-9]{7,8}")
        type_id = created["documentType"]["id"]
        audit_before = await audit_count(factory)
        data = await client.data(UPDATE_TYPE, {"id": type_id, "input": {"formatRegex": r"([0-9])\1+"}}, token)
        [error] = data["updateDocumentType"]["userErrors"]
        assert error["code"] == "INVALID"
        stored = await client.data(DOCUMENT_TYPES, token=token)
        assert next(t["formatRegex"] for t in stored["documentTypes"] if t["id"] == type_id) == "[0-9]{7,8}"
        assert await audit_count(factory) == audit_before

    async def test_a_catastrophic_pattern_is_accepted_because_nothing_backtracks(
        self, client: GraphQLClient, factory: Factory, admin: User
    ) -> None:
        # Refusing it would also have protected the loop; accepting it shows the engine never backtracks.
        result = await create_type(client, factory.token(admin), "AB", CATASTROPHIC)
        assert result["userErrors"] == []
        assert result["documentType"]["formatRegex"] == CATASTROPHIC


class TestNumbers:
    async def test_the_catastrophic_pattern_answers_on_the_longest_number(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        token = factory.token(admin)
        type_id = (await create_type(client, token, "AB", CATASTROPHIC))["documentType"]["id"]
        audit_before = await audit_count(factory)
        # Python's re would take 2^31 steps on this one; the answer must come within the client's timeout.
        number = "A" * (LONGEST_NUMBER - 1) + "C"
        answer = await client.data(CREATE_CONTACT, {"input": documented(team, type_id, number)}, token)
        assert answer["createContact"] == {
            "contact": None,
            "userErrors": [
                {"field": "input.document.number", "code": "INVALID", "message": "Does not match the AB format"}
            ],
        }
        matching = await client.data(CREATE_CONTACT, {"input": documented(team, type_id, "A" * 31 + "B")}, token)
        assert matching["createContact"]["userErrors"] == []
        assert await factory.count(Contact) == 1
        assert await audit_count(factory) == audit_before + 1

    async def test_a_bulk_call_of_catastrophic_numbers_answers_each(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        token = factory.token(admin)
        type_id = (await create_type(client, token, "AB", CATASTROPHIC))["documentType"]["id"]
        audit_before = await audit_count(factory)
        numbers = ["A" * (LONGEST_NUMBER - 1 - i % 8) + "C" for i in range(1000)]
        data = await client.data(CREATE_CONTACTS, {"input": [documented(team, type_id, n) for n in numbers]}, token)
        payload = data["createContacts"]
        assert payload["createdCount"] == 0
        assert {e["message"] for r in payload["results"] for e in r["userErrors"]} == {"Does not match the AB format"}
        assert len(payload["results"]) == len(numbers)
        assert await factory.count(Contact) == 0
        # The call itself is recorded, as every bulk call is, and nothing else.
        rows = await factory.audit_rows()
        assert len(rows) == audit_before + 1
        assert rows[-1].resource_name == "0 contacts created, 1000 rejected"

    async def test_a_number_longer_than_the_column_is_too_long_on_every_backend(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        token = factory.token(admin)
        type_id = (await create_type(client, token, "LONG", "[A-Z0-9]+"))["documentType"]["id"]
        audit_before = await audit_count(factory)
        # Separators do not count: the number is stored without them.
        longest = "-".join(["ABCD1234"] * 4)
        ok = await client.data(CREATE_CONTACT, {"input": documented(team, type_id, longest)}, token)
        assert ok["createContact"]["contact"]["document"] == {"number": "ABCD1234" * 4}
        too_long = await client.data(CREATE_CONTACT, {"input": documented(team, type_id, longest + "5")}, token)
        assert too_long["createContact"] == {
            "contact": None,
            "userErrors": [
                {"field": "input.document.number", "code": "TOO_LONG", "message": "Must have at most 32 characters"}
            ],
        }
        assert await factory.count(Contact) == 1
        assert await audit_count(factory) == audit_before + 1


# Numbers around the shipped formats: right and wrong lengths and prefixes, letters, other scripts' digits.
CANDIDATES = [
    "1234567",
    "12345678",
    "123456789",
    "2012345678",
    "20123456786",
    "27123456786",
    "10123456786",
    "12345678K",
    "1234567K",
    "AB123456",
    "AB1234567890123",
    "A1",
    "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668",
]


@pytest.mark.parametrize("shipped", SHIPPED_DOCUMENT_TYPES, ids=lambda t: t["code"])
async def test_shipped_formats_accept_what_they_accepted_under_pythons_re(
    client: GraphQLClient, factory: Factory, admin: User, team: Team, shipped: dict[str, Any]
) -> None:
    token = factory.token(admin)
    type_id = await doc_type(client, token, shipped["code"])
    data = await client.data(CREATE_CONTACTS, {"input": [documented(team, type_id, n) for n in CANDIDATES]}, token)
    format_refused = {
        CANDIDATES[r["index"]]
        for r in data["createContacts"]["results"]
        if any(e["message"].startswith("Does not match") for e in r["userErrors"])
    }
    # What the format alone refused before: Python's re on an ASCII number.
    expected = {n for n in CANDIDATES if not (n.isascii() and re.fullmatch(shipped["format_regex"], n))}
    assert format_refused == expected
