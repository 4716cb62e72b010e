"""Integrators read the schema as the API's reference: every part of it says what it is (issue 25)."""

from collections.abc import Iterator

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    is_introspection_type,
    is_specified_directive,
    is_specified_scalar_type,
)
from graphql import (
    build_schema as build_sdl,
)

from resolvers.root import build_schema
from services.settings import Settings


def undescribed(schema: GraphQLSchema) -> Iterator[str]:
    """Schema coordinates (`Type.field(arg:)`) of every type, field, argument, enum value and input
    field with no description; graphql's own introspection types, scalars and directives are its own."""
    for name, named in sorted(schema.type_map.items()):
        if is_introspection_type(named) or is_specified_scalar_type(named):
            continue
        if not named.description:
            yield name
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in named.fields.items():
                if not field.description:
                    yield f"{name}.{field_name}"
                yield from (f"{name}.{field_name}({arg}:)" for arg, a in field.args.items() if not a.description)
        elif isinstance(named, GraphQLInputObjectType):
            yield from (f"{name}.{field}" for field, f in named.fields.items() if not f.description)
        elif isinstance(named, GraphQLEnumType):
            yield from (f"{name}.{value}" for value, v in named.values.items() if not v.description)
        else:
            assert isinstance(named, GraphQLUnionType | GraphQLScalarType), named
    for directive in schema.directives:
        if is_specified_directive(directive):
            continue
        if not directive.description:
            yield f"@{directive.name}"
        yield from (f"@{directive.name}({arg}:)" for arg, a in directive.args.items() if not a.description)


def test_every_part_of_the_schema_has_a_description() -> None:
    schema = build_schema(Settings(database_url="sqlite+aiosqlite://", secret_key="-" * 32))
    missing = list(undescribed(schema._schema))
    assert not missing, f"{len(missing)} parts of the schema have no description:\n" + "\n".join(missing)


def test_the_walk_names_every_kind_of_undescribed_part() -> None:
    # The test above passes on an empty walk too: this shows the walk looks at every kind of part.
    bare = build_sdl(
        """
        directive @audited(reason: String) on FIELD_DEFINITION
        interface Named { name: String }
        type Query { thing(id: ID): Thing @audited, union: Either }
        type Thing implements Named { name: String, kind: Kind }
        type Other { id: ID }
        union Either = Thing | Other
        enum Kind { ONE }
        input Filter { text: String }
        scalar Instant
        type Mutation { go(filter: Filter): Instant }
        """
    )
    assert sorted(undescribed(bare)) == sorted(
        [
            "@audited",
            "@audited(reason:)",
            "Either",
            "Filter",
            "Filter.text",
            "Instant",
            "Kind",
            "Kind.ONE",
            "Mutation",
            "Mutation.go",
            "Mutation.go(filter:)",
            "Named",
            "Named.name",
            "Other",
            "Other.id",
            "Query",
            "Query.thing",
            "Query.thing(id:)",
            "Query.union",
            "Thing",
            "Thing.kind",
            "Thing.name",
        ]
    )
