"""Making an address primary touches nothing else of it: an address stored before a rule
tightened can still become the contact's primary one."""

from db.models import ContactAddress, Team, User
from tests.conftest import GraphQLClient
from tests.factories import Factory, gid, last_audit

SET_PRIMARY = """
mutation($id: ID!) {
  setPrimaryContactAddress(id: $id) {
    contact { addresses { street city isPrimary } primaryAddress { city } } userErrors { field code }
  }
}
"""


async def test_an_address_stored_before_a_rule_can_become_primary(
    client: GraphQLClient, factory: Factory, admin: User, team: Team
) -> None:
    (contact,) = await factory.contacts(team, "José Pérez")
    async with factory.sessionmaker() as session:
        home = ContactAddress(contact_id=contact.id, street="Av. Colón", city="Córdoba", country="AR", is_primary=True)
        # A blank street, which an address given today is refused for (REQUIRED).
        work = ContactAddress(contact_id=contact.id, street="", city="Rosario", country="AR", is_primary=False)
        session.add_all([home, work])
        await session.commit()
    data = await client.data(SET_PRIMARY, {"id": gid(work)}, factory.token(admin))
    payload = data["setPrimaryContactAddress"]
    assert payload["userErrors"] == []
    assert payload["contact"]["primaryAddress"] == {"city": "Rosario"}
    # The primary address first; the stored street stays as it was.
    assert payload["contact"]["addresses"] == [
        {"street": "", "city": "Rosario", "isPrimary": True},
        {"street": "Av. Colón", "city": "Córdoba", "isPrimary": False},
    ]
    event = await last_audit(factory)
    assert [a["isPrimary"] for a in event.changes["addresses"]["before"]] == [True, False]
    assert [a["isPrimary"] for a in event.changes["addresses"]["after"]] == [False, True]
