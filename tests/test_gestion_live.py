"""Gestiones pushed live (issue point 9): an operator's inbox hears what it is given; supervisors hear
every change in their campaigns; other agents of the team hear nothing of it."""

from __future__ import annotations

from db.models import Role
from tests.conftest import GraphQLClient, Server
from tests.factories import Factory, gid
from tests.ws import listening

DISTRIBUTE = """
mutation($c: ID!, $ops: [ID!]!) {
  distributeGestiones(campaignId: $c, operatorIds: $ops, strategy: ROUND_ROBIN) { distributedCount userErrors { code } }
}
"""
TRANSFER = """
mutation($ids: [ID!]!, $op: ID) { transferGestiones(gestionIds: $ids, operatorId: $op) { transferredCount } }
"""
TAKE_NEXT = "mutation { takeNextGestion { gestion { id } } }"
FINISH = """
mutation($id: ID!) { saveGestion(id: $id, finish: {resultCode: "PAID"}) { gestion { status } userErrors { code } } }
"""
PAUSE = "mutation($id: ID!) { setCampaignStatus(id: $id, status: PAUSED) { userErrors { code } } }"


async def test_assignments_transfers_and_finishing_reach_exactly_who_may_hear_them(
    server: Server, client: GraphQLClient, factory: Factory
) -> None:
    team = await factory.team("Cobranzas")
    sofia = await factory.user(Role.SUPERVISOR, name="Sofía", supervises=[team])
    ana = await factory.user(Role.AGENT, name="Ana", teams=[team])
    beto = await factory.user(Role.AGENT, name="Beto", teams=[team])
    carla = await factory.user(Role.AGENT, name="Carla", teams=[team])  # same team, not an operator
    campaign = await factory.campaign("Mora", team, operators=[ana, beto, carla])
    people = await factory.contacts(team, "Juan Pérez", "María Gómez", "José Núñez")
    rows = await factory.gestiones(campaign, people)
    boss = factory.token(sofia)
    async with (
        listening(server, factory.token(ana)) as ana_inbox,
        listening(server, factory.token(carla)) as carla_inbox,
        listening(server, boss) as sofia_inbox,
    ):
        given = await client.data(DISTRIBUTE, {"c": gid(campaign), "ops": [gid(ana), gid(beto)]}, boss)
        assert given["distributeGestiones"]["distributedCount"] == 3
        # ROUND_ROBIN in queue order: Ana gets the first and the third.
        mine = (await ana_inbox.next())["payload"]
        assert mine == {
            "__typename": "GestionesAssigned",
            "assignment": "ASSIGNED",
            "campaignName": "Mora",
            "operatorId": gid(ana),
            "previousOperatorId": None,
            "gestionIds": [gid(rows[0]), gid(rows[2])],
            "gestionCount": 2,
        }
        # Given by someone else: her notification centre says so too (S6), right after.
        told = (await ana_inbox.next())["payload"]
        assert told == {
            "__typename": "NotificationAdded",
            "notificationKind": "GESTIONES_TRANSFERRED",
            "message": "Sofía assigned 2 gestiones to you",
        }
        seen = [(await sofia_inbox.next())["payload"] for _ in range(2)]
        assert sorted(p["gestionCount"] for p in seen) == [1, 2]

        moved = await client.data(TRANSFER, {"ids": [gid(rows[2])], "op": gid(beto)}, boss)
        assert moved["transferGestiones"]["transferredCount"] == 1
        taken = (await ana_inbox.next())["payload"]
        assert (taken["assignment"], taken["previousOperatorId"], taken["gestionIds"]) == (
            "TRANSFERRED",
            gid(ana),
            [gid(rows[2])],
        )
        assert (await sofia_inbox.next())["payload"]["assignment"] == "TRANSFERRED"

        ana_token = factory.token(ana)
        claimed = (await client.data(TAKE_NEXT, token=ana_token))["takeNextGestion"]["gestion"]
        assert claimed == {"id": gid(rows[0])}
        for inbox in (ana_inbox, sofia_inbox):
            attended = (await inbox.next())["payload"]
            assert (attended["gestionChange"], attended["gestionStatus"]) == ("ATTENDED", "IN_PROGRESS")
        finished = await client.data(FINISH, {"id": gid(rows[0])}, ana_token)
        assert finished["saveGestion"]["gestion"] == {"status": "FINISHED"}
        for inbox in (ana_inbox, sofia_inbox):
            done = (await inbox.next())["payload"]
            assert done == {
                "__typename": "GestionChanged",
                "gestionChange": "FINISHED",
                "gestionId": gid(rows[0]),
                "gestionStatus": "FINISHED",
                "resultCode": "PAID",
                "operatorId": gid(ana),
            }
        # Carla works in the same team: none of this was hers. The campaign's pause is (she operates
        # it), and it is the first thing she hears.
        await client.data(PAUSE, {"id": gid(campaign)}, boss)
        paused = (await carla_inbox.next())["payload"]
        assert paused == {"__typename": "CampaignChanged", "campaignName": "Mora", "campaignStatus": "PAUSED"}
        await carla_inbox.quiet()
