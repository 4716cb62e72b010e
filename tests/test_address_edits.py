"""Editing a contact (point 20 of issue 21): addresses change only what is given, `isPrimary`
keeps one primary address, and an edit may create the contact's company inline (C3)."""

from typing import Any

import pytest
from sqlalchemy import select

from db.models import Company, ContactAddress, Team, User
from tests.conftest import GraphQLClient
from tests.factories import Factory, audit_count, gid, last_audit, problems

ADDRESS_FIELDS = "id label street number unit city region postalCode country isPrimary"
ADD_ADDRESS = f"""
mutation($id: ID!, $input: AddressInput!) {{
  addContactAddress(contactId: $id, input: $input) {{
    contact {{ addresses {{ {ADDRESS_FIELDS} }} }} userErrors {{ field code }}
  }}
}}
"""
UPDATE_ADDRESS = f"""
mutation($id: ID!, $input: UpdateAddressInput!) {{
  updateContactAddress(id: $id, input: $input) {{
    contact {{ addresses {{ {ADDRESS_FIELDS} }} primaryAddress {{ id }} }} userErrors {{ field code message }}
  }}
}}
"""
UPDATE_CONTACT = """
mutation($id: ID!, $input: UpdateContactInput!) {
  updateContact(id: $id, input: $input) {
    contact { company { id name phone } } userErrors { field code message }
  }
}
"""
CASA = {"label": "Casa", "street": "Av. Corrientes", "number": "1234", "city": "Buenos Aires", "country": "AR"}


async def with_addresses(
    client: GraphQLClient, factory: Factory, admin: User, team: Team, *addresses: dict[str, Any]
) -> tuple[str, list[dict[str, Any]]]:
    """A contact with these addresses, added in order; its id and its addresses as the API lists them."""
    (contact,) = await factory.contacts(team, "José Pérez")
    listed: list[dict[str, Any]] = []
    for address in addresses:
        data = await client.data(ADD_ADDRESS, {"id": gid(contact), "input": address}, factory.token(admin))
        assert data["addContactAddress"]["userErrors"] == []
        listed = data["addContactAddress"]["contact"]["addresses"]
    return gid(contact), listed


async def stored_addresses(factory: Factory) -> list[tuple[Any, ...]]:
    async with factory.sessionmaker() as session:
        rows = await session.execute(select(ContactAddress.__table__).order_by(ContactAddress.id))
        return [tuple(row) for row in rows.all()]


class TestPartialAddressUpdate:
    async def test_only_the_given_fields_change_and_null_clears_an_optional_one(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        _, (address,) = await with_addresses(client, factory, admin, team, CASA)
        token = factory.token(admin)
        moved = await client.data(UPDATE_ADDRESS, {"id": address["id"], "input": {"street": "Av. Santa Fe"}}, token)
        assert moved["updateContactAddress"]["userErrors"] == []
        (after,) = moved["updateContactAddress"]["contact"]["addresses"]
        assert after == {**address, "street": "Av. Santa Fe"}
        cleared = await client.data(UPDATE_ADDRESS, {"id": address["id"], "input": {"label": None}}, token)
        (after,) = cleared["updateContactAddress"]["contact"]["addresses"]
        assert after == {**address, "street": "Av. Santa Fe", "label": None}
        # The audit row holds the contact's addresses before and after, each with its fields.
        event = await last_audit(factory)
        assert event.changes["addresses"]["before"][0]["label"] == "Casa"
        assert event.changes["addresses"]["after"][0]["label"] is None
        assert event.changes["addresses"]["after"][0]["street"] == "Av. Santa Fe"

    @pytest.mark.parametrize(
        ("given", "expected"),
        [
            ({"street": None}, ("REQUIRED", "input.street")),
            ({"city": "  "}, ("REQUIRED", "input.city")),
            ({"country": "ARG", "label": "Trabajo"}, ("INVALID", "input.country")),
            ({"postalCode": "1" * 21}, ("TOO_LONG", "input.postalCode")),
        ],
    )
    async def test_a_refused_edit_changes_nothing(
        self,
        client: GraphQLClient,
        factory: Factory,
        admin: User,
        team: Team,
        given: dict[str, Any],
        expected: tuple[str, str],
    ) -> None:
        _, (address,) = await with_addresses(client, factory, admin, team, CASA)
        before = (await stored_addresses(factory), await audit_count(factory))
        data = await client.data(UPDATE_ADDRESS, {"id": address["id"], "input": given}, factory.token(admin))
        assert problems(data["updateContactAddress"]) == [expected]
        assert data["updateContactAddress"]["contact"] is None
        assert (await stored_addresses(factory), await audit_count(factory)) == before

    async def test_an_edit_that_changes_nothing_is_not_audited(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        _, (address,) = await with_addresses(client, factory, admin, team, CASA)
        before = await audit_count(factory)
        same = await client.data(
            UPDATE_ADDRESS, {"id": address["id"], "input": {"city": "Buenos Aires"}}, factory.token(admin)
        )
        assert same["updateContactAddress"]["userErrors"] == []
        assert await audit_count(factory) == before


class TestPrimary:
    async def test_is_primary_true_makes_it_the_one_primary(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        second = {**CASA, "label": "Trabajo", "city": "Córdoba"}
        _, (first, other) = await with_addresses(client, factory, admin, team, CASA, second)
        assert (first["isPrimary"], other["isPrimary"]) == (True, False)
        data = await client.data(
            UPDATE_ADDRESS, {"id": other["id"], "input": {"isPrimary": True}}, factory.token(admin)
        )
        contact = data["updateContactAddress"]["contact"]
        # The API lists the primary address first.
        assert [(a["city"], a["isPrimary"]) for a in contact["addresses"]] == [
            ("Córdoba", True),
            ("Buenos Aires", False),
        ]
        assert contact["primaryAddress"] == {"id": other["id"]}
        event = await last_audit(factory)
        assert [a["isPrimary"] for a in event.changes["addresses"]["before"]] == [True, False]
        assert [a["isPrimary"] for a in event.changes["addresses"]["after"]] == [False, True]

    async def test_false_on_the_primary_hands_it_to_the_oldest_other_address(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        token = factory.token(admin)
        a, b, c = ({**CASA, "city": city} for city in ("Salta", "Jujuy", "Tucumán"))
        _, listed = await with_addresses(client, factory, admin, team, a, b, c)
        third = listed[2]["id"]
        await client.data(UPDATE_ADDRESS, {"id": third, "input": {"isPrimary": True}}, token)
        data = await client.data(UPDATE_ADDRESS, {"id": third, "input": {"isPrimary": False}}, token)
        contact = data["updateContactAddress"]["contact"]
        assert [(x["city"], x["isPrimary"]) for x in contact["addresses"]] == [
            ("Salta", True),
            ("Jujuy", False),
            ("Tucumán", False),
        ]
        # False on an address that is not the primary one changes nothing.
        before = await audit_count(factory)
        again = await client.data(UPDATE_ADDRESS, {"id": third, "input": {"isPrimary": False}}, token)
        assert [x["isPrimary"] for x in again["updateContactAddress"]["contact"]["addresses"]] == [True, False, False]
        assert await audit_count(factory) == before

    async def test_false_on_the_only_address_is_refused(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        _, (address,) = await with_addresses(client, factory, admin, team, CASA)
        before = (await stored_addresses(factory), await audit_count(factory))
        data = await client.data(
            UPDATE_ADDRESS, {"id": address["id"], "input": {"isPrimary": False, "label": "Otra"}}, factory.token(admin)
        )
        assert problems(data["updateContactAddress"]) == [("INVALID", "input.isPrimary")]
        assert (await stored_addresses(factory), await audit_count(factory)) == before


class TestInlineCompanyOnEdit:
    async def test_an_edit_creates_the_company_as_creating_a_contact_does(
        self, client: GraphQLClient, factory: Factory, admin: User, team: Team
    ) -> None:
        (contact,) = await factory.contacts(team, "José Pérez")
        company = {"name": "Acme SA", "phone": "011 4555-1234"}
        data = await client.data(
            UPDATE_CONTACT, {"id": gid(contact), "input": {"company": company}}, factory.token(admin)
        )
        assert data["updateContact"]["userErrors"] == []
        made = data["updateContact"]["contact"]["company"]
        assert (made["name"], made["phone"]) == ("Acme SA", "+541145551234")
        rows = await factory.audit_rows()
        assert [(r.action, r.resource_type) for r in rows[-2:]] == [("CREATED", "COMPANY"), ("UPDATED", "CONTACT")]
        assert rows[-1].changes["companyId"] == {"before": None, "after": rows[-2].resource_id}

    @pytest.mark.parametrize(
        ("given", "expected"),
        [
            ({"company": {"name": "  "}}, [("REQUIRED", "input.company.name")]),
            ({"company": {"name": "Acme", "phone": "12"}}, [("INVALID", "input.company.phone")]),
            ({"company": {"name": "Acme"}, "companyId": None}, [("INVALID", "input.company")]),
            ({"company": None}, [("REQUIRED", "input.company")]),
            # A bad contact field beside a good company creates neither.
            ({"company": {"name": "Acme"}, "firstNames": ""}, [("REQUIRED", "input.firstNames")]),
        ],
    )
    async def test_a_refused_edit_creates_no_company(
        self,
        client: GraphQLClient,
        factory: Factory,
        admin: User,
        team: Team,
        given: dict[str, Any],
        expected: list[tuple[str, str]],
    ) -> None:
        (contact,) = await factory.contacts(team, "José Pérez")
        before = (await factory.count(Company), await audit_count(factory))
        data = await client.data(UPDATE_CONTACT, {"id": gid(contact), "input": given}, factory.token(admin))
        assert problems(data["updateContact"]) == expected
        assert (await factory.count(Company), await audit_count(factory)) == before
