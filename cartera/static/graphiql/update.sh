#!/usr/bin/env bash
# Vendor GraphiQL's browser assets from the npm registry: edit a version below, run
#   bash cartera/static/graphiql/update.sh
# then commit assets/ and page.html. It replaces assets/ whole (each package under
# <name>@<version>/, beside its licence), and rewrites page.html's asset tags with their
# subresource-integrity hashes. The versions are the ones strawberry's own GraphiQL page loads
# from a CDN (strawberry/static/graphiql.html), whose integrity hashes these bytes match.
set -euo pipefail

REACT=18.2.0
GRAPHIQL=3.8.3
EXPLORER=1.0.2
# Bundled inside the explorer plugin's UMD file, which ships no licence of its own.
GRAPHIQL_EXPLORER=0.9.0

here="$(cd "$(dirname "$0")" && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

cd "$scratch"
npm pack --silent "react@$REACT" "react-dom@$REACT" "graphiql@$GRAPHIQL" \
    "@graphiql/plugin-explorer@$EXPLORER" "graphiql-explorer@$GRAPHIQL_EXPLORER" >/dev/null
for archive in *.tgz; do
    mkdir "${archive%.tgz}"
    tar -xzf "$archive" -C "${archive%.tgz}"
done

new="$scratch/assets"
put() {  # put <folder> <file in a package> ...: copy into assets/<folder>/
    local folder="$1"
    shift
    mkdir -p "$new/$folder"
    cp "$@" "$new/$folder/"
}
put "react@$REACT" "react-$REACT/package/umd/react.production.min.js" "react-$REACT/package/LICENSE"
put "react-dom@$REACT" "react-dom-$REACT/package/umd/react-dom.production.min.js" "react-dom-$REACT/package/LICENSE"
put "graphiql@$GRAPHIQL" "graphiql-$GRAPHIQL/package/graphiql.min.js" "graphiql-$GRAPHIQL/package/graphiql.min.css" \
    "graphiql-$GRAPHIQL/package/LICENSE"
put "graphiql-plugin-explorer@$EXPLORER" "graphiql-plugin-explorer-$EXPLORER/package/dist/index.umd.js" \
    "graphiql-plugin-explorer-$EXPLORER/package/dist/style.css"
# The plugin lives in GraphiQL's repository (graphql/graphiql), under that repository's licence.
cp "graphiql-$GRAPHIQL/package/LICENSE" "$new/graphiql-plugin-explorer@$EXPLORER/LICENSE"
cp "graphiql-explorer-$GRAPHIQL_EXPLORER/package/LICENSE" \
    "$new/graphiql-plugin-explorer@$EXPLORER/LICENSE.graphiql-explorer"
# graphiql.min.js is a webpack bundle of GraphiQL and its dependencies: name the packages in it.
grep -oE '^/\*\*\*/ "(\.\./)+node_modules/(@[^/]+/)?[^/]+' "graphiql-$GRAPHIQL/package/graphiql.min.js" |
    sed -E 's#.*node_modules/##' | sort -u >"$new/graphiql@$GRAPHIQL/BUNDLED.txt"

rm -rf "$here/assets"
mv "$new" "$here/assets"

python3 - "$here" "$REACT" "$GRAPHIQL" "$EXPLORER" <<'PY'
import base64, hashlib, pathlib, re, sys

here, react, graphiql, explorer = pathlib.Path(sys.argv[1]), *sys.argv[2:]
assets = here / "assets"


def tag(path: str) -> str:
    digest = base64.b64encode(hashlib.sha384((assets / path).read_bytes()).digest()).decode()
    # Relative to the page (served at …/graphql), so a prefix a proxy adds is kept.
    url = f"graphiql/assets/{path}"
    if path.endswith(".css"):
        return f'<link rel="stylesheet" href="{url}" integrity="sha384-{digest}" />'
    return f'<script src="{url}" integrity="sha384-{digest}"></script>'


files = [
    f"graphiql@{graphiql}/graphiql.min.css",
    f"graphiql-plugin-explorer@{explorer}/style.css",
    f"react@{react}/react.production.min.js",
    f"react-dom@{react}/react-dom.production.min.js",
    f"graphiql@{graphiql}/graphiql.min.js",
    f"graphiql-plugin-explorer@{explorer}/index.umd.js",
]
block = "\n    ".join(tag(f) for f in files)
page = here / "page.html"
text = page.read_text(encoding="utf-8")
begin, end = "<!-- assets: written by update.sh -->", "<!-- /assets -->"
text, count = re.subn(re.escape(begin) + ".*?" + re.escape(end), f"{begin}\n    {block}\n    {end}", text, flags=re.S)
if count != 1:
    sys.exit(f"page.html must hold exactly one {begin} … {end} block")
page.write_text(text, encoding="utf-8")
PY
echo "GraphiQL assets: react $REACT, graphiql $GRAPHIQL, @graphiql/plugin-explorer $EXPLORER (in $here/assets)"
