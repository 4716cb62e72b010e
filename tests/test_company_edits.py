"""Editing companies: an edit checks what it is given, and a name or tax id another company took
first, even under the service's own check, is an ALREADY_EXISTS naming the right field."""

import pytest
from sqlalchemy import select

from db.models import AuditEvent, Campaign, Company, Team, User
from services.common import flush_unique
from services.errors import DomainError
from tests.conftest import GraphQLClient
from tests.factories import Factory, gid, last_audit

UPDATE_COMPANY = """
mutation($id: ID!, $input: UpdateCompanyInput!) {
  updateCompany(id: $id, input: $input) { company { id name website } userErrors { field code message } }
}
"""
COMPANIES = "query($search: String) { companies(search: $search) { nodes { id name } } }"
UPDATE_CAMPAIGN = """
mutation($id: ID!, $input: UpdateCampaignInput!) { updateCampaign(id: $id, input: $input) { userErrors { code } } }
"""
CAMPAIGNS = "query($filter: CampaignFilter) { campaigns(filter: $filter) { nodes { name } } }"


async def stored_company(factory: Factory, **columns: object) -> Company:
    """A company written straight to its table, as a row from before today's rules would be."""
    async with factory.sessionmaker() as session:
        company = Company(**columns)
        session.add(company)
        await session.commit()
        return company


async def test_a_rename_leaves_a_website_stored_before_the_rule_as_it_is(
    client: GraphQLClient, factory: Factory, admin: User
) -> None:
    company = await stored_company(factory, name="Bodega Andina", website="not a url")
    token = factory.token(admin)
    renamed = await client.data(UPDATE_COMPANY, {"id": gid(company), "input": {"name": "Bodega Andína del Sur"}}, token)
    payload = renamed["updateCompany"]
    assert payload["userErrors"] == []
    assert payload["company"] == {"id": gid(company), "name": "Bodega Andína del Sur", "website": "not a url"}
    event = await last_audit(factory)
    assert event.changes == {"name": {"before": "Bodega Andina", "after": "Bodega Andína del Sur"}}
    # The folded name followed the rename (keep_folded), so the search finds it by its new name.
    found = await client.data(COMPANIES, {"search": "ANDINA DEL SUR"}, token)
    assert found["companies"]["nodes"] == [{"id": gid(company), "name": "Bodega Andína del Sur"}]
    # A website that is given is held to the rule.
    refused = await client.data(UPDATE_COMPANY, {"id": gid(company), "input": {"website": "still not"}}, token)
    assert [(e["field"], e["code"]) for e in refused["updateCompany"]["userErrors"]] == [("input.website", "INVALID")]
    assert await factory.count(AuditEvent) == 1


async def test_a_renamed_campaign_is_found_and_ordered_by_its_new_name(
    client: GraphQLClient, factory: Factory, admin: User, team: Team
) -> None:
    campaign = await factory.campaign("Recupero", team)
    await factory.campaign("Cobranza", team)
    token = factory.token(admin)
    renamed = await client.data(UPDATE_CAMPAIGN, {"id": gid(campaign), "input": {"name": "Ágil"}}, token)
    assert renamed["updateCampaign"]["userErrors"] == []
    listed = await client.data(CAMPAIGNS, {}, token)
    assert [n["name"] for n in listed["campaigns"]["nodes"]] == ["Ágil", "Cobranza"]
    found = await client.data(CAMPAIGNS, {"filter": {"search": "AGIL"}}, token)
    assert found["campaigns"]["nodes"] == [{"name": "Ágil"}]
    async with factory.sessionmaker() as session:
        assert await session.scalar(select(Campaign.search_name).where(Campaign.id == campaign.id)) == "agil"


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        pytest.param({"name": "Bodega", "tax_id": "30712345671"}, ("tax id taken", "taxId"), id="tax-id"),
        pytest.param({"name": "ACME", "tax_id": None}, ("name taken", "name"), id="name"),
    ],
)
async def test_flush_unique_names_the_index_that_refused(
    factory: Factory, second: dict[str, object], expected: tuple[str, str]
) -> None:
    """What a concurrent call that wrote first looks like: the row is there, no check saw it."""
    await stored_company(factory, name="Acme", tax_id="30712345671")
    async with factory.sessionmaker() as session:
        session.add(Company(**second))
        with pytest.raises(DomainError) as caught:
            await flush_unique(
                session, "name taken", "name", by_index={"uq_companies_tax_id": ("tax id taken", "taxId")}
            )
    ((problem),) = caught.value.problems
    assert (problem.code.value, problem.message, problem.field) == ("ALREADY_EXISTS", *expected)
    assert await factory.count(Company) == 1
