"""A company created inline with a contact (C3): validated once, under the server's default region,
and, in a bulk call, refused item by item when its name or tax id is taken."""

from typing import Any

from db.models import AuditEvent, Company, Contact, Role, Team
from tests.conftest import GraphQLClient, running
from tests.factories import Factory, gid

CREATE = """
mutation($input: CreateContactInput!) {
  createContact(input: $input) { contact { company { name phone } } userErrors { field code message } }
}
"""
UPDATE = """
mutation($id: ID!, $input: UpdateContactInput!) {
  updateContact(id: $id, input: $input) { contact { company { name phone } } userErrors { field code message } }
}
"""
CREATE_MANY = """
mutation($input: [CreateContactInput!]!) {
  createContacts(input: $input) {
    createdCount rejectedCount
    results { index contact { fullName company { name } } userErrors { field code } }
  }
}
"""
CREATE_COMPANY = "mutation($input: CompanyInput!) { createCompany(input: $input) { userErrors { field code } } }"
# A Uruguayan mobile as a Uruguayan types it: no number at all under Argentina's rules.
UY_MOBILE = "094 123 456"


def person(team: Team, first: str = "Ana", **extra: Any) -> dict[str, Any]:
    return {"firstNames": first, "lastNames": "Paz", "teamId": gid(team), **extra}


async def test_created_with_a_contact_under_the_configured_region(
    database_url: str, factory: Factory, team: Team
) -> None:
    admin = await factory.user(Role.ADMIN)
    async with running(database_url, default_region="UY") as (_, client):
        made = await client.data(
            CREATE,
            {"input": person(team, company={"name": "Frigorífico Salto", "phone": UY_MOBILE})},
            factory.token(admin),
        )
    payload = made["createContact"]
    assert payload["userErrors"] == []
    assert payload["contact"]["company"] == {"name": "Frigorífico Salto", "phone": "+59894123456"}
    assert await factory.count(Company) == 1


async def test_created_with_a_contact_edit_under_the_configured_region(
    database_url: str, factory: Factory, team: Team
) -> None:
    admin = await factory.user(Role.ADMIN)
    (contact,) = await factory.contacts(team, "Ana Paz")
    async with running(database_url, default_region="UY") as (_, client):
        edited = await client.data(
            UPDATE,
            {"id": gid(contact), "input": {"company": {"name": "Frigorífico Salto", "phone": UY_MOBILE}}},
            factory.token(admin),
        )
    payload = edited["updateContact"]
    assert payload["userErrors"] == []
    assert payload["contact"]["company"] == {"name": "Frigorífico Salto", "phone": "+59894123456"}


async def test_a_bulk_item_whose_company_is_taken_is_that_items_refusal(
    client: GraphQLClient, factory: Factory, team: Team
) -> None:
    admin = await factory.user(Role.ADMIN)
    token = factory.token(admin)
    taken = await client.data(CREATE_COMPANY, {"input": {"name": "Logística Sur", "taxId": "30-71234567-1"}}, token)
    assert taken["createCompany"]["userErrors"] == []
    before = await factory.count(AuditEvent)
    items = [
        person(team, "Uno", company={"name": "Bodega Andina"}),
        person(team, "Dos", company={"name": "LOGISTICA SUR"}),
        person(team, "Tres", company={"name": "Otra", "taxId": "30712345671"}),
        # The first item creates it, so the second finds it taken.
        person(team, "Cuatro", company={"name": "bodega andina"}),
        person(team, "Cinco"),
    ]
    data = await client.data(CREATE_MANY, {"input": items}, token)
    payload = data["createContacts"]
    assert (payload["createdCount"], payload["rejectedCount"]) == (2, 3)
    assert [(r["index"], r["contact"], r["userErrors"]) for r in payload["results"]] == [
        (0, {"fullName": "Uno Paz", "company": {"name": "Bodega Andina"}}, []),
        (1, None, [{"field": "input.1.company.name", "code": "ALREADY_EXISTS"}]),
        (2, None, [{"field": "input.2.company.taxId", "code": "ALREADY_EXISTS"}]),
        (3, None, [{"field": "input.3.company.name", "code": "ALREADY_EXISTS"}]),
        (4, {"fullName": "Cinco Paz", "company": None}, []),
    ]
    assert await factory.count(Company) == 2
    assert await factory.count(Contact) == 2
    # The batch, the two contacts and the one company it created.
    assert await factory.count(AuditEvent) == before + 4
