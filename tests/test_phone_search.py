"""Search finds a phone however it is typed (C5; issue 21, point 16): national forms with the trunk
prefix and Argentina's mobile 15, on both backends, for contacts written before and after 0013."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db import migrate
from db.models import Team, User
from services.contacts import search_text
from tests.conftest import GraphQLClient
from tests.factories import Factory, gid

CREATE = """
mutation($input: CreateContactInput!) { createContact(input: $input) { contact { id } userErrors { field code } } }
"""
ADD_CHANNEL = """
mutation($id: ID!, $input: ChannelInput!) { addContactChannel(contactId: $id, input: $input) { userErrors { code } } }
"""
SEARCH = "query($q: String!) { contacts(filter: {search: $q}) { nodes { fullName } } }"

MOBILE = "+5491145551234"
FIXED = "+541145551234"
# As typed for the mobile: each finds it and never the fixed line's national forms.
MOBILE_TYPED = ["011 15-4555-1234", "15 4555 1234", "(011) 15 4555-1234", "011 1545551234", "9 11 4555-1234"]
FIXED_TYPED = ["011 4555-1234", "(011) 4555-1234", "01145551234", "+54 11 4555-1234"]
# The same eight digits, as typed for either.
BOTH_TYPED = ["11 4555 1234", "4555-1234", "1145551234"]


async def found(client: GraphQLClient, token: str, typed: str) -> list[str]:
    data = await client.data(SEARCH, {"q": typed}, token)
    return sorted(n["fullName"] for n in data["contacts"]["nodes"])


async def test_national_forms_find_their_number(
    client: GraphQLClient, factory: Factory, admin: User, team: Team
) -> None:
    token = factory.token(admin)
    people = [
        ("Movil", [{"kind": "WHATSAPP", "value": "011 15-4555-1234"}]),
        ("Fijo", [{"kind": "PHONE", "value": "(011) 4555-1234"}]),
        ("Otro", [{"kind": "PHONE", "value": "0351 15 555-6666"}, {"kind": "PHONE", "value": "011 4555-9999"}]),
        ("Nadie", []),
    ]
    ids = {}
    for first, channels in people:
        made = await client.data(
            CREATE,
            {"input": {"firstNames": first, "lastNames": "Paz", "teamId": gid(team), "channels": channels}},
            token,
        )
        assert made["createContact"]["userErrors"] == []
        ids[first] = made["createContact"]["contact"]["id"]
    # A channel added later reaches the search text the same way (refresh_search).
    added = await client.data(
        ADD_CHANNEL, {"id": ids["Nadie"], "input": {"kind": "PHONE", "value": "11 15 5555 6666"}}, token
    )
    assert added["addContactChannel"]["userErrors"] == []
    for typed in MOBILE_TYPED:
        assert await found(client, token, typed) == ["Movil Paz"], typed
    for typed in FIXED_TYPED:
        assert await found(client, token, typed) == ["Fijo Paz"], typed
    for typed in BOTH_TYPED:
        assert await found(client, token, typed) == ["Fijo Paz", "Movil Paz"], typed
    # "15 5555 6666" typed in Buenos Aires is +54 9 11 5555-6666; Córdoba's 0351 15 555-6666 is another number.
    assert await found(client, token, "15 5555 6666") == ["Nadie Paz"]
    assert await found(client, token, "0351 15 555 6666") == ["Otro Paz"]
    assert await found(client, token, "011 15 4555 9999") == []
    # A fragment of three digits stays a substring, as before.
    assert await found(client, token, "666") == ["Nadie Paz", "Otro Paz"]


def test_search_text_holds_the_national_forms() -> None:
    assert (
        search_text(
            first_names="Ana",
            last_names="Paz",
            document=None,
            company=None,
            channels=[("PHONE", MOBILE), ("PHONE", FIXED)],
        )
        == f"ana paz |  |  | {MOBILE} 5491145551234 {FIXED} 541145551234 0111545551234 01145551234"
    )


async def test_migration_appends_the_forms_to_existing_contacts(blank_engine: AsyncEngine) -> None:
    """0013 backfills: a contact written before it is found by "15 4555 1234" after it."""
    await migrate.upgrade(blank_engine, "0012")
    async with blank_engine.begin() as conn:
        team = await conn.scalar(
            text(
                "INSERT INTO teams (name, path, sort_name, created_at, updated_at)"
                " VALUES ('T', '/', 't', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id"
            )
        )
        old = f"ana paz | | | {MOBILE} 5491145551234 usuaria@example.com"
        contact = await conn.scalar(
            text(
                "INSERT INTO contacts (first_names, last_names, is_vip, team_id, custom_fields, search_text,"
                " search_name, sort_name, created_at, updated_at) VALUES ('Ana', 'Paz', false, :t, '{}',"
                " :s, 'ana paz', 'paz ana', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id"
            ),
            {"t": team, "s": old},
        )
        await conn.execute(
            text(
                "INSERT INTO contact_channels (contact_id, kind, value, normalized, created_at) VALUES"
                " (:c, 'PHONE', '11 15 4555 1234', :n, CURRENT_TIMESTAMP),"
                " (:c, 'EMAIL', 'usuaria@example.com', 'usuaria@example.com', CURRENT_TIMESTAMP)"
            ),
            {"c": contact, "n": MOBILE},
        )
    await migrate.upgrade(blank_engine)
    async with blank_engine.connect() as conn:
        stored = await conn.scalar(text("SELECT search_text FROM contacts"))
    assert stored == f"{old} 0111545551234"
